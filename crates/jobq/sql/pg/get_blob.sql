SELECT sha256, bytes FROM blobs WHERE meeting_id = $1 AND path = $2;

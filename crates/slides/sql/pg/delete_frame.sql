-- A re-run of a VISUAL job replaces its frame.
DELETE FROM screen_frames WHERE job_id = $1;

INSERT INTO asr_segments (job_id, idx, meeting_id, start_ms, end_ms, text, words, no_speech_prob)
VALUES (:job_id, :idx, :meeting_id, :start_ms, :end_ms, :text, :words, :no_speech_prob);

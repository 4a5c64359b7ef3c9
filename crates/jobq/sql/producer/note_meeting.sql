-- A problem a producer worked around (a damaged file set aside): appended to the
-- meeting's error text, so that `foreman status` shows it.
UPDATE meetings
SET error = CASE WHEN error IS NULL OR error = '' THEN :error ELSE error || '; ' || :error END,
    updated_at = :now
WHERE meeting_id = :meeting_id;

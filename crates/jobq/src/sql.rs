//! Every SQL statement of the crate, one file each under `sql/`, grouped by who runs it.
//! [`ALL`] lists them so that a test can run each one against a fresh schema.

macro_rules! statements {
    ($($name:ident = $path:literal;)*) => {
        $(pub(crate) const $name: &str = include_str!(concat!("../sql/", $path));)*
        /// (file, text) of every statement.
        #[cfg(test)]
        pub(crate) const ALL: &[(&str, &str)] = &[$(($path, $name)),*];
    };
}

statements! {
    CLAIM = "worker/claim.sql";
    HEARTBEAT = "worker/heartbeat.sql";
    COMPLETE = "worker/complete.sql";
    FAIL = "worker/fail.sql";
    HAND_BACK = "worker/hand_back.sql";
    REAPER_CLAIMS = "reaper/claims.sql";
    REAPER_TAKE_BACK = "reaper/take_back.sql";
    REAPER_CRASHED = "reaper/crashed.sql";
    REAPER_COMPLETED_SINCE = "reaper/completed_since.sql";
    REAPER_CRASH_LOGS = "reaper/crash_logs.sql";
    REAPER_WORKERS = "reaper/workers.sql";
    REAPER_WORKER_GONE = "reaper/worker_gone.sql";
    REAPER_IDLE_DEATH = "reaper/idle_death.sql";
    REAPER_IDLE_DEATHS_SINCE = "reaper/idle_deaths_since.sql";
    REAPER_PRUNE_DEATHS = "reaper/prune_deaths.sql";
    WORKER_REGISTER = "worker/register.sql";
    WORKER_UNREGISTER = "worker/unregister.sql";
    PROGRESS = "worker/progress.sql";
    DEVICE_LEASES = "device/leases.sql";
    DEVICE_REAP = "device/reap.sql";
    DEVICE_ACQUIRE = "device/acquire.sql";
    DEVICE_HEARTBEAT = "device/heartbeat.sql";
    DEVICE_RELEASE = "device/release.sql";
    CREATE_MEETING = "producer/create_meeting.sql";
    CLOSE_MEETING = "producer/close_meeting.sql";
    ENQUEUE = "producer/enqueue.sql";
    FIND_JOB = "producer/find_job.sql";
    ADD_DEP = "producer/add_dep.sql";
    ADMIN_JOB = "admin/job.sql";
    ADMIN_COUNTS = "admin/counts.sql";
    ADMIN_BLOCKED = "admin/blocked.sql";
    ADMIN_DEVICE_LEASES = "admin/device_leases.sql";
    ADMIN_DEPS = "admin/deps.sql";
    ADMIN_OUTSTANDING = "admin/outstanding.sql";
    ADMIN_MEETINGS = "admin/meetings.sql";
    ADMIN_FAILED_JOBS = "admin/failed_jobs.sql";
    ADMIN_MEETING_JOBS = "admin/meeting_jobs.sql";
    FIND_MEETING_BY_SOURCE = "producer/find_meeting_by_source.sql";
    DELETE_OPEN_MEETING = "producer/delete_open_meeting.sql";
    MEETING_SEQS = "producer/meeting_seqs.sql";
    NOTE_MEETING = "producer/note_meeting.sql";
    MEETING_STATUS = "producer/meeting_status.sql";
    FOREMAN_CLOSED = "foreman/closed_meetings.sql";
    FOREMAN_JOB_IDS = "foreman/job_ids_of_type.sql";
    FOREMAN_MARK_PROCESSING = "foreman/mark_processing.sql";
    FOREMAN_DONE = "foreman/meetings_done.sql";
    FOREMAN_FAILED = "foreman/meetings_failed.sql";
    FOREMAN_RESUMED = "foreman/meetings_resumed.sql";
    FOREMAN_CANCEL_MEETING = "foreman/cancel_meeting.sql";
    FOREMAN_DELETE_MEETING = "foreman/delete_meeting.sql";
    FOREMAN_MEETING_STATUS = "foreman/meeting_status.sql";
    FOREMAN_CANCEL_JOBS = "foreman/cancel_jobs.sql";
    FOREMAN_RETRY = "foreman/retry_failed.sql";
    FOREMAN_REDO_DEPENDENTS = "foreman/redo_dependents.sql";
    FOREMAN_REDO_TRANSCRIPT = "foreman/redo_transcript.sql";
    FOREMAN_INPUT_FAILURES = "foreman/input_failures.sql";
    FOREMAN_SET_PARTIAL = "foreman/set_partial.sql";
}

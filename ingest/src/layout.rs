//! Where ingest puts a meeting's files in the data directory: the one place that names
//! them. Paths are relative to the data directory (that is what job payloads hold, as
//! `debrief_contracts::DataPath`) unless a function takes the `DataDir`.
//!
//! ```text
//! meetings/<id>/audio/chunk-NNNNN.wav     a finished chunk (an AUDIO job's file)
//! meetings/<id>/audio/chunk-NNNNN.live    the journal of the chunk being recorded
//! meetings/<id>/screens/frame-NNNNN-TTTTTTTTT.png   a changed screenshot at T ms
//! meetings/<id>/record.json, record.lock, record-stats.json   a recording session
//! ```

use std::path::PathBuf;

use debrief_config::DataDir;
use debrief_jobq::MeetingId;

/// `meetings/<id>`.
pub(crate) fn rel_meeting(meeting: MeetingId) -> PathBuf {
    PathBuf::from("meetings").join(meeting.to_string())
}

/// `DIR/meetings/<id>`.
pub(crate) fn meeting_dir(dd: &DataDir, meeting: MeetingId) -> PathBuf {
    dd.root().join(rel_meeting(meeting))
}

/// `meetings/<id>/audio`.
pub(crate) fn rel_audio(meeting: MeetingId) -> PathBuf {
    rel_meeting(meeting).join("audio")
}

/// `meetings/<id>/audio/chunk-NNNNN.wav`.
pub(crate) fn chunk_rel(meeting: MeetingId, index: u32) -> PathBuf {
    rel_audio(meeting).join(format!("chunk-{index:05}.wav"))
}

/// `chunk-NNNNN.live`, inside [`rel_audio`].
pub(crate) fn journal_name(index: u32) -> String {
    format!("chunk-{index:05}.live")
}

/// `meetings/<id>/screens`.
pub(crate) fn rel_screens(meeting: MeetingId) -> PathBuf {
    rel_meeting(meeting).join("screens")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable() {
        let m = MeetingId(7);
        assert_eq!(chunk_rel(m, 3), PathBuf::from("meetings/7/audio/chunk-00003.wav"));
        assert_eq!(rel_audio(m).join(journal_name(12)), PathBuf::from("meetings/7/audio/chunk-00012.live"));
        assert_eq!(rel_screens(m), PathBuf::from("meetings/7/screens"));
    }
}

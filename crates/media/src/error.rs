//! The one error type of this crate. Every variant names the file it is about, so a caller
//! can print it as is.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// What went wrong with a media file. The `Display` text starts with the file's path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// There is no file at this path.
    #[error("{}: no such file", .path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file has no content: 0 bytes, or a container that holds no audio samples.
    #[error("{}: empty ({what})", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// `"0 bytes"`, or what was found instead of samples.
        what: String,
    },
    /// The file is not audio: no known container, or a container without an audio track.
    #[error("{}: not an audio file: found {found}", .path.display())]
    NotAudio {
        /// The file.
        path: PathBuf,
        /// What the file seems to be instead, e.g. `text ("hello wor…")`.
        found: String,
    },
    /// The file is audio, but in a codec or variant this build cannot decode.
    #[error("{}: unsupported audio: {what}", .path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported.
        what: String,
    },
    /// The file ends before its header says it should.
    #[error("{}: truncated: {detail}", .path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What the header declared and what was found.
        detail: String,
    },
    /// The audio data is damaged part-way through.
    #[error("{}: corrupt audio data{}: {detail}", .path.display(), at_suffix(*.at_s))]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Position in the source (seconds) where decoding failed, where known.
        at_s: Option<f64>,
        /// The decoder's words.
        detail: String,
    },
    /// Reading or writing the file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn at_suffix(at_s: Option<f64>) -> String {
    at_s.map(|s| format!(" at {s:.2} s")).unwrap_or_default()
}

impl MediaError {
    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            MediaError::Missing { path }
            | MediaError::Empty { path, .. }
            | MediaError::NotAudio { path, .. }
            | MediaError::Unsupported { path, .. }
            | MediaError::Truncated { path, .. }
            | MediaError::Corrupt { path, .. }
            | MediaError::Io { path, .. } => path,
        }
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            MediaError::Missing { path: path.to_owned() }
        } else {
            MediaError::Io { path: path.to_owned(), source }
        }
    }
}

/// The checks every reader does first: the path exists, is a regular file, and is not empty.
/// Returns the file's length in bytes.
pub(crate) fn check_input_file(path: &Path) -> Result<u64, MediaError> {
    let meta = fs::metadata(path).map_err(|e| MediaError::io(path, e))?;
    if meta.is_dir() {
        return Err(MediaError::NotAudio { path: path.to_owned(), found: "a directory".into() });
    }
    if meta.len() == 0 {
        return Err(MediaError::Empty { path: path.to_owned(), what: "0 bytes".into() });
    }
    Ok(meta.len())
}

/// Says in a few words what a file that no audio demuxer recognised looks like, from its
/// first bytes, so that "not audio" errors can say what was found instead.
pub(crate) fn describe_unknown_file(path: &Path) -> String {
    let mut head = Vec::with_capacity(512);
    let read = fs::File::open(path).and_then(|f| f.take(512).read_to_end(&mut head));
    if let Err(e) = read {
        return format!("an unreadable file ({e})");
    }
    describe_bytes(&head)
}

pub(crate) fn describe_bytes(head: &[u8]) -> String {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (or an office document)"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"\x7fELF", "an ELF executable"),
        (b"SQLite format 3\0", "an SQLite database"),
    ];
    if let Some((_, what)) = MAGIC.iter().find(|(magic, _)| head.starts_with(magic)) {
        return (*what).to_owned();
    }
    if head.get(4..8) == Some(b"ftyp") {
        return "an MP4/MOV container".to_owned();
    }
    if head.starts_with(b"RIFF") && head.len() >= 12 {
        let form = String::from_utf8_lossy(&head[8..12]).into_owned();
        return format!("a RIFF file of form {form:?} (not WAVE)");
    }
    // Text: valid UTF-8 (allowing a character cut at the 512-byte boundary) without control
    // characters other than whitespace.
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
        Err(_) => "",
    };
    let is_text = !valid.is_empty() && valid.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    if is_text {
        let preview: String = valid.chars().take(24).collect();
        let ellipsis = if valid.chars().count() > 24 { "…" } else { "" };
        return format!("text ({preview:?}{ellipsis})");
    }
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("unrecognised data (first bytes: {})", hex.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_text_and_magic_and_binary() {
        assert_eq!(describe_bytes(b"hello world\n"), "text (\"hello world\\n\")");
        assert!(describe_bytes(b"%PDF-1.7 ...").contains("PDF"));
        assert!(describe_bytes(b"RIFF\0\0\0\0AVI LIST").contains("\"AVI \""));
        assert_eq!(
            describe_bytes(&[0, 1, 2, 3, 250, 251, 252, 253, 254]),
            "unrecognised data (first bytes: 00 01 02 03 fa fb fc fd)"
        );
        let long = "a".repeat(100);
        assert!(describe_bytes(long.as_bytes()).ends_with("…)"));
    }

    #[test]
    fn display_names_the_file() {
        let e = MediaError::Corrupt { path: "/x/y.mp3".into(), at_s: Some(1.5), detail: "bad frame".into() };
        assert_eq!(e.to_string(), "/x/y.mp3: corrupt audio data at 1.50 s: bad frame");
        assert_eq!(e.path(), Path::new("/x/y.mp3"));
    }
}

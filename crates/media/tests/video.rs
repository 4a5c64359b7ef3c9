//! Frames and audio of real video files made by ffmpeg (scripts/setup installs it).
#![cfg(feature = "video")]

use std::path::Path;
use std::process::Command;

use debrief_media::video::{has_video, sample_frames, VideoAudio};

fn ffmpeg(args: &[&str], out: &Path) {
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg {args:?}");
}

/// 4 s of a tone, and a picture that starts 1 s after it (the video stream shifted by
/// 1 s when muxed, as a screen recorder that starts its picture late writes it): white for
/// 2 s, then black for 1 s.
fn offset_video(dir: &Path) -> std::path::PathBuf {
    let picture = dir.join("picture.mp4");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=white:s=320x240:r=10:d=2",
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=320x240:r=10:d=1",
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1:a=0[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
        &picture,
    );
    let out = dir.join("offset.mkv");
    let picture = picture.to_str().unwrap().to_string();
    ffmpeg(
        &[
            "-itsoffset",
            "1",
            "-i",
            &picture,
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=4:sample_rate=48000",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
        ],
        &out,
    );
    out
}

#[test]
fn frames_and_audio_share_the_file_time_and_memory_stays_one_frame() {
    let d = tempfile::tempdir().unwrap();
    let v = offset_video(d.path());
    assert!(has_video(&v).unwrap());
    let mut seen = Vec::new();
    let stats = sample_frames(&v, 500, |t, img| {
        assert_eq!((img.width, img.height, img.rgb.len()), (320, 240, 320 * 240 * 3));
        seen.push((t, img.rgb[0]));
        Ok(())
    })
    .unwrap();
    // The picture starts 1 s into the file (after the audio): its first frame is at 1 s,
    // not 0; one frame per half second after that; white, then black from 3 s.
    assert!((950..=1_150).contains(&seen[0].0), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[1].0 - w[0].0 >= 450), "{seen:?}");
    let white: Vec<i64> = seen.iter().filter(|s| s.1 > 200).map(|s| s.0).collect();
    let black: Vec<i64> = seen.iter().filter(|s| s.1 < 50).map(|s| s.0).collect();
    assert!(white.iter().all(|&t| t < 3_050) && black.iter().all(|&t| t >= 2_950), "{seen:?}");
    assert!(stats.decoded >= 25 && stats.sampled as usize == seen.len(), "{stats:?}");

    // The audio: 4 s at 16 kHz mono from the file's start.
    let mut a = VideoAudio::open(&v).unwrap().expect("an audio stream");
    let mut n = 0usize;
    let mut peak = 0f32;
    while let Some(b) = a.next_block().unwrap() {
        n += b.len();
        peak = b.iter().fold(peak, |p, x| p.max(x.abs()));
    }
    assert!((63_000..=65_600).contains(&n), "{n} samples");
    assert!(peak > 0.05, "a tone, not silence: {peak}");
    assert_eq!(a.damaged, 0);
}

#[test]
fn audio_files_have_no_video_and_non_media_is_not_video() {
    let d = tempfile::tempdir().unwrap();
    let wav = d.path().join("tone.wav");
    ffmpeg(&["-f", "lavfi", "-i", "sine=f=300:d=1"], &wav);
    assert!(!has_video(&wav).unwrap());
    assert_eq!(sample_frames(&wav, 500, |_, _| Ok(())).unwrap().sampled, 0);
    let text = d.path().join("notes.mp4");
    std::fs::write(&text, "not a video at all\n").unwrap();
    let err = has_video(&text).unwrap_err().to_string();
    assert!(err.contains("notes.mp4"), "{err}");
}

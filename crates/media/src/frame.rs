//! Screen frames: the change detector shared by the recorder (`ingest record --screens`)
//! and the visual worker, and PNG reading with errors that name the file.
//!
//! A frame's [`LumaGrid`] is the mean luma of a 64 x 36 grid of cells. Two frames differ
//! ([`LumaGrid::differs`]) when more than 1.5 % of the cells (35) moved by more than 6
//! levels of 255. A blinking cursor or a ticking clock touches a handful of cells; a new
//! slide, a scrolled page or a switched window touches hundreds.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Grid width in cells.
pub const GRID_W: usize = 64;
/// Grid height in cells.
pub const GRID_H: usize = 36;
/// A cell changed when its mean luma moved by more than this (of 255).
const CELL_DELTA: f32 = 6.0;
/// A frame changed when more than this fraction of cells changed.
const CHANGED_CELLS: f32 = 0.015;

/// An 8-bit RGB image.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Pixels, row-major, 3 bytes each.
    pub rgb: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbImage").field("width", &self.width).field("height", &self.height).finish_non_exhaustive()
    }
}

/// Mean luma per grid cell of a frame (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LumaGrid(pub Vec<f32>);

impl LumaGrid {
    /// The grid of `img`.
    pub fn of(img: &RgbImage) -> LumaGrid {
        let (w, h) = (img.width as usize, img.height as usize);
        let mut sum = vec![0f64; GRID_W * GRID_H];
        let mut n = vec![0u32; GRID_W * GRID_H];
        if w > 0 && h > 0 {
            for y in 0..h {
                let gy = y * GRID_H / h;
                for (x, p) in img.rgb[y * w * 3..(y + 1) * w * 3].chunks_exact(3).enumerate() {
                    let cell = gy * GRID_W + x * GRID_W / w;
                    sum[cell] += 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
                    n[cell] += 1;
                }
            }
        }
        LumaGrid(sum.iter().zip(&n).map(|(s, &c)| if c == 0 { 0.0 } else { (s / f64::from(c)) as f32 }).collect())
    }

    /// The fraction of cells that moved by more than the cell threshold (1.0 when the
    /// grids have different sizes).
    pub fn moved(&self, other: &LumaGrid) -> f32 {
        if self.0.len() != other.0.len() || self.0.is_empty() {
            return 1.0;
        }
        let moved = self.0.iter().zip(&other.0).filter(|(x, y)| (*x - *y).abs() > CELL_DELTA).count();
        moved as f32 / self.0.len() as f32
    }

    /// Whether the frames differ perceptibly (a new slide, not a cursor).
    pub fn differs(&self, other: &LumaGrid) -> bool {
        self.moved(other) > CHANGED_CELLS
    }

    /// The cells as bytes (rounded luma), for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect()
    }

    /// A grid stored with [`LumaGrid::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> LumaGrid {
        LumaGrid(b.iter().map(|&v| f32::from(v)).collect())
    }
}

/// What is wrong with an image file; the text names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ImageError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// Largest image read (pixels): 8K x 8K. A damaged header claiming more is refused
/// before anything is allocated.
pub const MAX_PIXELS: u64 = 8192 * 8192;

/// Reads a PNG as 8-bit RGB (grey, palette, alpha and 16-bit images are converted).
pub fn read_png(path: &Path) -> Result<RgbImage, ImageError> {
    let file = File::open(path).map_err(|e| ImageError { path: path.display().to_string(), reason: e.to_string() })?;
    decode_png(path, BufReader::new(file))
}

/// Reads a PNG held in memory (a screenshot stored in the database), as [`read_png`];
/// `path` names it in errors.
pub fn read_png_bytes(path: &Path, bytes: &[u8]) -> Result<RgbImage, ImageError> {
    decode_png(path, std::io::Cursor::new(bytes))
}

fn decode_png(path: &Path, input: impl std::io::BufRead + std::io::Seek) -> Result<RgbImage, ImageError> {
    let err = |reason: String| ImageError { path: path.display().to_string(), reason };
    let mut dec = png::Decoder::new(input);
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().map_err(|e| err(format!("not a readable PNG: {e}")))?;
    let (w, h) = {
        let i = reader.info();
        (i.width, i.height)
    };
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(err(format!("{w} x {h} pixels is larger than the {MAX_PIXELS}-pixel limit")));
    }
    let size = reader.output_buffer_size().ok_or_else(|| err("image too large".into()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| err(format!("damaged PNG data: {e}")))?;
    buf.truncate(info.buffer_size());
    let (width, height) = (info.width, info.height);
    let px = width as usize * height as usize;
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0]]).collect(),
        other => return Err(err(format!("unsupported PNG colour type {other:?}"))),
    };
    if rgb.len() != px * 3 {
        return Err(err(format!("decoded {} bytes for {width} x {height} pixels", rgb.len())));
    }
    Ok(RgbImage { rgb, width, height })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
        let rgb = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).flat_map(|(x, y)| f(x, y)).collect();
        RgbImage { rgb, width: w, height: h }
    }

    #[test]
    fn a_cursor_is_not_a_change_and_a_new_slide_is() {
        let base = LumaGrid::of(&image(1280, 720, |_, _| [30, 60, 90]));
        let cursor = LumaGrid::of(&image(1280, 720, |x, y| {
            if (600..610).contains(&x) && (300..320).contains(&y) {
                [255, 255, 255]
            } else {
                [30, 60, 90]
            }
        }));
        let slide =
            LumaGrid::of(&image(1280, 720, |x, y| if y > 200 && x < 900 { [250, 250, 250] } else { [30, 60, 90] }));
        let line = LumaGrid::of(&image(1280, 720, |x, y| {
            if (100..700).contains(&x) && (400..440).contains(&y) {
                [0, 0, 0]
            } else {
                [30, 60, 90]
            }
        }));
        assert!(!base.differs(&cursor));
        assert!(base.differs(&slide));
        assert!(base.differs(&line), "two new lines of text count");
        assert!(!LumaGrid::from_bytes(&base.to_bytes()).differs(&base));
    }

    #[test]
    fn bad_pngs_are_refused_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("frame.png");
        std::fs::write(&p, b"not a png at all").unwrap();
        let e = read_png(&p).unwrap_err().to_string();
        assert!(e.contains("frame.png") && e.contains("not a readable PNG"), "{e}");
        let e = read_png(&d.path().join("gone.png")).unwrap_err().to_string();
        assert!(e.contains("gone.png"), "{e}");
        // A real PNG cut short.
        let img = image(64, 48, |x, y| [x as u8, y as u8, 7]);
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, 64, 48);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&img.rgb).unwrap();
        }
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read_png(&p).unwrap(), img);
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_png(&p).unwrap_err().to_string();
        assert!(e.contains("frame.png"), "{e}");
    }
}

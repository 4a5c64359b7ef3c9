//! The OCR engine: Tesseract 5 (libtesseract from Debian, its LSTM models from
//! `tesseract-ocr-eng` and friends), in process through the `tesseract` crate.
//!
//! Why Tesseract: it is packaged by every distribution with its trained models (no model
//! download, works offline from the first run), reads slide text well (printed text on
//! plain backgrounds is its strong case), reports every word with a box and a
//! confidence, and runs on one CPU core in well under a second per 720p frame here. The
//! engine is loaded once per run of jobs and reused.

use debrief_media::frame::RgbImage;
use tesseract::Tesseract;

use crate::OcrLine;

/// Words with a lower confidence (0-100) are dropped: on screen captures they are
/// almost always icons, photos or window chrome read as letters.
const MIN_WORD_CONF: f32 = 30.0;

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[error("tesseract: {0}")]
pub struct OcrError(String);

/// A loaded Tesseract.
pub struct Ocr {
    engine: Option<Tesseract>,
    datapath: Option<String>,
    lang: String,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr").field("lang", &self.lang).field("datapath", &self.datapath).finish_non_exhaustive()
    }
}

impl Ocr {
    /// Loads the models for `lang` (`eng`, `eng+deu`, ...) from `datapath` (default:
    /// Tesseract's own, `$TESSDATA_PREFIX` or the system's tessdata).
    pub fn load(datapath: Option<&str>, lang: &str) -> Result<Ocr, OcrError> {
        let mut o = Ocr { engine: None, datapath: datapath.map(str::to_owned), lang: lang.to_owned() };
        o.engine = Some(o.init()?);
        Ok(o)
    }

    fn init(&self) -> Result<Tesseract, OcrError> {
        let mut t = Tesseract::new(self.datapath.as_deref(), Some(&self.lang)).map_err(|e| {
            OcrError(format!(
                "cannot load language {:?} from {}: {e} (install tesseract-ocr-{} or pass --tessdata)",
                self.lang,
                self.datapath.as_deref().unwrap_or("the system tessdata"),
                self.lang.split('+').next().unwrap_or("eng")
            ))
        })?;
        // Whole-page layout analysis (PSM 3, the default): blocks, paragraphs, lines.
        t = t.set_variable("debug_file", "/dev/null").map_err(|e| OcrError(e.to_string()))?;
        Ok(t)
    }

    /// Reads `img`: its lines in reading order, with boxes.
    pub fn read(&mut self, img: &RgbImage) -> Result<Vec<OcrLine>, OcrError> {
        let engine = match self.engine.take() {
            Some(e) => e,
            None => self.init()?,
        };
        let w = i32::try_from(img.width).map_err(|_| OcrError("image too wide".into()))?;
        let h = i32::try_from(img.height).map_err(|_| OcrError("image too tall".into()))?;
        // A failed call consumes the engine; the next read loads a fresh one.
        let mut engine = engine
            .set_frame(&img.rgb, w, h, 3, w * 3)
            .map_err(|e| OcrError(format!("set image: {e}")))?
            .set_source_resolution(96)
            .recognize()
            .map_err(|e| OcrError(format!("recognise: {e}")))?;
        let tsv = engine.get_tsv_text(0).map_err(|e| OcrError(format!("read results: {e}")))?;
        self.engine = Some(engine);
        Ok(parse_tsv(&tsv))
    }
}

/// Lines from Tesseract's TSV (level, page, block, paragraph, line, word, left, top,
/// width, height, confidence, text): the words of each line with confidence at least
/// [`MIN_WORD_CONF`], the line's box around them.
pub fn parse_tsv(tsv: &str) -> Vec<OcrLine> {
    struct Acc {
        key: (u32, u32, u32),
        words: Vec<String>,
        conf: f32,
        l: u32,
        t: u32,
        r: u32,
        b: u32,
    }
    let mut out = Vec::new();
    let mut cur: Option<Acc> = None;
    let flush = |a: Acc, out: &mut Vec<OcrLine>| {
        if !a.words.is_empty() {
            out.push(OcrLine {
                text: a.words.join(" "),
                left: a.l,
                top: a.t,
                width: a.r - a.l,
                height: a.b - a.t,
                conf: a.conf / a.words.len() as f32,
                block: a.key.0,
            });
        }
    };
    for row in tsv.lines() {
        let f: Vec<&str> = row.split('\t').collect();
        if f.len() < 12 || f[0] != "5" {
            continue;
        }
        let num = |i: usize| f[i].trim().parse::<u32>().ok();
        let (Some(block), Some(par), Some(line), Some(l), Some(t), Some(w), Some(h)) =
            (num(2), num(3), num(4), num(6), num(7), num(8), num(9))
        else {
            continue;
        };
        let conf: f32 = f[10].trim().parse().unwrap_or(-1.0);
        let text = f[11..].join("\t");
        let text = text.trim();
        if text.is_empty() || conf < MIN_WORD_CONF {
            continue;
        }
        let key = (block, par, line);
        if cur.as_ref().is_some_and(|a| a.key != key) {
            flush(cur.take().expect("checked"), &mut out);
        }
        let a = cur.get_or_insert(Acc { key, words: Vec::new(), conf: 0.0, l, t, r: l + w, b: t + h });
        a.words.push(text.to_owned());
        a.conf += conf;
        a.l = a.l.min(l);
        a.t = a.t.min(t);
        a.r = a.r.max(l + w);
        a.b = a.b.max(t + h);
    }
    if let Some(a) = cur {
        flush(a, &mut out);
    }
    out
}

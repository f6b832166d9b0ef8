import ArgumentParser

/// Compilation targets. Only the Driver knows about them.
enum Target: String, CaseIterable, ExpressibleByArgument {
    /// Optimized, static-shape ONNX (the base the SNPE/Hailo emitters build on).
    case onnx
    /// MyriadX: OpenVINO IR → FP16 blob.
    case rvc2
    /// RVC3: INT8 OpenVINO IR.
    case rvc3
    /// Qualcomm SNPE/QAIRT.
    case rvc4
    /// Hailo DFC.
    case hailo
}

import Foundation

/// Process-wide kernel switches. `XLSWEEP_REFERENCE_KERNELS=1` runs every kernel on its scalar
/// reference path (the ground truth that the SIMD kernels are tested against).
public enum KernelSwitch {
    public static let reference: Bool = ProcessInfo.processInfo.environment["XLSWEEP_REFERENCE_KERNELS"] == "1"
}

/**
 * onnxruntime-node, as every Node session of convzoo gets it: with ONNX Runtime's POSIX telemetry off.
 *
 * Why: ONNX Runtime ≥ 1.29 builds 1DS telemetry into its Linux packages (microsoft/onnxruntime#27379).
 * When the first session creates the runtime's environment, the telemetry's system probe
 * (microsoft/cpp_client_telemetry, lib/pal/posix/sysinfo_sources.cpp) matches the regex
 * `(.*)[ ]*.*[\n]*` against the whole of /proc/self/cmdline with std::regex, whose libstdc++ executor
 * recurses once per character matched. A command line of ~29 KB or more (1,100 image paths from a
 * shell glob) overflows the main thread's 8 MB stack: SIGSEGV in `Ort::Env` creation (gdb at 55 KB: ~86,000 frames
 * of one 3-function cycle under `OrtSingletonData::OrtObjects`). `ORT_DISABLE_TELEMETRY=1`, read at
 * that moment, skips the probe altogether (and the uploader, whose network traffic convzoo must not
 * make either). A value the user set is left as it is.
 */
import * as ort from "onnxruntime-node";

process.env.ORT_DISABLE_TELEMETRY ??= "1";

export { ort };

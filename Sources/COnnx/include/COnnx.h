// Umbrella header for the protoc-c generated ONNX schema (onnx-ml.proto + onnx-data.proto).
#include "onnx-ml.pb-c.h"
#include "onnx-data.pb-c.h"

// ONNXFormat module: see README "Structure".

// Kernels module: see README "Structure".

// Interpreter module: see README "Structure".

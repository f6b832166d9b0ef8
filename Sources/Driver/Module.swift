// Driver module: see README "Structure".

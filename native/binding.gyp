{
  "targets": [
    {
      "target_name": "pillion_native",
      "sources": ["pillion_native.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"sources!": ["pillion_native.cc"], "sources": ["unsupported.cc"]}]]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "semipoison_native",
      "sources": ["native/addon.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node native/libtorch.cjs include)"
      ],
      "libraries": ["<!@(node native/libtorch.cjs libs)"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["<!@(node native/libtorch.cjs cflags)", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
    }
  ]
}

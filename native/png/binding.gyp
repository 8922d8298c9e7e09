{
  "targets": [
    {
      "target_name": "nanscan_png",
      "sources": ["png.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-O3"],
      "cflags": ["-O2", "-std=c11", "-Wall", "-Wextra"],
      "libraries": ["-ldeflate"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": { "GCC_OPTIMIZATION_LEVEL": "2", "OTHER_CFLAGS": ["-I/opt/homebrew/opt/libdeflate/include", "-I/usr/local/opt/libdeflate/include"] },
          "libraries": ["-L/opt/homebrew/opt/libdeflate/lib", "-L/usr/local/opt/libdeflate/lib"]
        }]
      ]
    }
  ]
}

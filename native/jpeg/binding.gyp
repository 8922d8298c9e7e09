{
  "targets": [
    {
      "target_name": "nanscan_jpeg",
      "sources": ["jpeg.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-O3"],
      "cflags": ["-O2", "-std=c11", "-Wall", "-Wextra"],
      "libraries": ["-ljpeg"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": { "GCC_OPTIMIZATION_LEVEL": "2", "OTHER_CFLAGS": ["-I/opt/homebrew/opt/jpeg-turbo/include", "-I/usr/local/opt/jpeg-turbo/include"] },
          "libraries": ["-L/opt/homebrew/opt/jpeg-turbo/lib", "-L/usr/local/opt/jpeg-turbo/lib"]
        }]
      ]
    }
  ]
}

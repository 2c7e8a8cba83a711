{
  "targets": [
    {
      "target_name": "syncfs",
      "sources": ["syncfs.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}

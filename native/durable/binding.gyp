{
  "targets": [
    {
      "target_name": "durable",
      "sources": ["durable.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}

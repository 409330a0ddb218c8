{
  "targets": [
    {
      "target_name": "ebpf_forward",
      "sources": [
        "native/addon.cc",
        "native/libbpf_log.cc",
        "native/bpf_object.cc",
        "native/ring_reader.cc",
        "native/forward_socket.cc",
        "native/record_encoder.cc",
        "native/record_program.cc",
        "native/cgroup_names.cc",
        "native/btf_reader.cc",
        "native/kernel_btf.cc",
        "native/host.cc"
      ],
      "include_dirs": ["native/vendor/libbpf/include", "<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-fvisibility=hidden", "-Wall", "-Wno-missing-field-initializers"],
      "libraries": ["-l:libbpf.so.1"]
    }
  ]
}

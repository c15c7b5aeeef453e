"""Optimizations: the registry and plans (``plan``), the built-in ones (``builtin``: eager, AMP,
channels_last, torch.compile, TorchScript, fp16/bf16), LoRA through peft (``lora``) and the deployment
backends (``backends``: ONNX Runtime, int8, torch.export, TensorRT). Importing ``vbench`` fills the
registry."""

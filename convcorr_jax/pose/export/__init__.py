"""A training run made a model: the model folder written at each stage's end and by `ship_model`
(`model_folder`: `write_stage`, `export`, the validated read-out), and ONNX files (`onnx_file`)."""

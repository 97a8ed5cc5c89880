"""TeReDiff on diffusers + torch: one module per architecture, plus the pipeline.

Importing this package is cheap; the modules import torch, diffusers and
transformers themselves.

=========================  ===========================================================
``swinir``                 SwinIR stage-1 cleaner (published parameter names)
``controlnet``             latent-condition ControlNet (DiffBIR's IRControlNet)
``ms_deform_attn``         multi-scale deformable attention, pure PyTorch
``spotter``                TESTR text spotter on U-Net decoder features
``text_encoder``           OpenCLIP ViT-H text tower as ``CLIPTextModel``; tokenizer
``configs``                the published configuration, as data; component builder
``scheduling``             DDPM schedule and respaced timesteps
``key_mapping``            published checkpoint names → ours (shared with the converter)
``loading``                strict component save/load (safetensors + config.json)
``convert``                published checkpoints → weights folder; folder check
``weights_location``       where the weights folder is looked for (one resolver)
``pipeline_terediff``      ``TeReDiffPipeline``: the denoise-and-prompt loop
``testing``                tiny random models for tests and plumbing benchmarks only
``testing_checkpoints``    synthetic checkpoints in the published layout (tests only)
=========================  ===========================================================
"""

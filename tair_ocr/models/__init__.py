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
``loading``                strict component save/load (safetensors + config.json)
``weights_check``          is a weights folder complete and consistent? (headers only)
``weights_location``       where the weights folder is looked for (one resolver)
``pipeline_terediff``      ``TeReDiffPipeline``: the denoise-and-prompt loop
=========================  ===========================================================

Converting the published checkpoints into a weights folder (the key mapping, the
converter) and the tiny random test models are workbench parts, outside the runtime
(``tair_workbench.conversion``, ``tair_workbench.testing``).
"""

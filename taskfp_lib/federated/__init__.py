"""MedUniverse on Flower: stage-wise federated learning of one universal encoder.

MedUniverse (Radwan, Osman, Shehata; arXiv 2407.14719) shares *fine-tuned weights* instead of
task descriptions: a server pretrains a base model by masked image modelling, clients fine-tune it
with their own heads, and after a fixed number of clients per stage the server aggregates their
encoders into the next base model.

* :mod:`.config`: :class:`FedConfig`, every option in one record.
* :mod:`.data`: task folders -> per-site train / test / MIM-pool splits in memory.
* :mod:`.mim`: the timm ViT encoder and SimMIM pretraining.
* :mod:`.finetune`: client fine-tuning with the project's Lightning recipe, held-out accuracy.
* :mod:`.weights`: Flower records, validation of updates, aggregation rules, safetensors checkpoints.
* :mod:`.strategy`: the stage-wise server as a Flower ``Strategy``.
* :mod:`.runstate`: stage checkpoints, resume, tables.
* :mod:`.apps`: the Flower ``ServerApp`` and ``ClientApp``.
* :mod:`.engines`: the simulation engine; :mod:`.deploy`: the deployment engine (processes).
* :mod:`.compare`: the same client tasks through task fingerprinting (MIM encoder as probe).
* :mod:`.recipe`: the book chapter's experiment; :mod:`.plots`: its figures.

Import from the modules (``from taskfp_lib.federated.recipe import meduniverse_chapter``); this
package module imports nothing, so ``import taskfp_lib.federated`` stays cheap.
"""

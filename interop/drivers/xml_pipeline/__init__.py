"""A stand-in for the xml-pipeline package's module path, so the interop drivers' pickles name the
upstream classes (xml_pipeline.memory.context_buffer.BufferSlot / SlotMetadata) as upstream's do.
Only the two slot dataclasses, written from SPEC.md 4's field list; nothing of upstream's code."""

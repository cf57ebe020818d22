"""InfographicVQA (validation, 2,801 questions): ANLS, reported ×100; DocVQA's protocol.

Data: lmms-lab/DocVQA (or lmms-lab-encoder/DocVQA), config ``InfographicVQA``, split
``validation``; or the original release folder (``format=original``): the validation
annotation file (``infographicsVQA_val_v1.0_withQT.json``, ``infographicVQA_val_v1.0.json`` or
``val_v1.0.json``; ``data[]`` records with ``questionId``, ``question``, ``answers`` and
``image_local_name``) beside an ``infographicsvqa_images/`` (or ``images/``) folder.

Sample ids: the dataset's ``questionId`` (``row<i>`` if a record lacks one). Questions on the
same infographic share an image key (hub ``image_url``; original: ``image_local_name``).
Prompt: ``{question}\\nAnswer the question using a single word or phrase.``
"""

from __future__ import annotations

from harness.tasks.docvqa import DocVQA


class InfoVQA(DocVQA):
    name = "infovqa"
    label = "InfoVQA"
    version = "2"  # 2: the prediction is stripped before scoring
    expected_size = 2801
    image_key_column = "image_url"
    annotation_files = (
        "infographicsVQA_{split}_v1.0_withQT.json",
        "infographicVQA_{split}_v1.0.json",
        "infographicsVQA_{split}_v1.0.json",
        "{split}_v1.0.json",
    )
    image_fields = ("image_local_name", "image")
    image_dirs = ("infographicsvqa_images", "images", "")


TASK = InfoVQA

"""Chat templates in the style of each preset family and a tiny offline tokenizer for them
(shared by the template tests and the converted-template tests)."""

from __future__ import annotations

import re

from slm_wizard.core.deploy.template_derive import (
    SYSTEM_FOLDED,
    SYSTEM_REFUSED,
    SYSTEM_SUPPORTED,
)

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
DEEPSEEK = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}{% endif %}"
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ '<｜User｜>' + m['content'] }}"
    "{% elif m['role'] == 'assistant' %}{{ '<｜Assistant｜>' + m['content'] + "
    "'<｜end▁of▁sentence｜>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\n' }}{% endif %}"
)
PHI3 = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ '<|system|>\n' + m['content'] + "
    "'<|end|>\n' }}{% elif m['role'] == 'user' %}{{ '<|user|>\n' + m['content'] + '<|end|>\n' }}"
    "{% elif m['role'] == 'assistant' %}{{ '<|assistant|>\n' + m['content'] + '<|end|>\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
PHI4_MINI = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + '<|end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
    "'<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)
MISTRAL = (
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}"
    "{%- endif %}{{- bos_token }}{%- for m in loop_messages %}{%- if m['role'] == 'user' %}"
    "{%- if loop.last and system_message is defined %}"
    "{{- '[INST] ' + system_message + '\n\n' + m['content'] + '[/INST]' }}"
    "{%- else %}{{- '[INST] ' + m['content'] + '[/INST]' }}{%- endif %}"
    "{%- elif m['role'] == 'assistant' %}{{- ' ' + m['content'] + eos_token }}{%- endif %}"
    "{%- endfor %}"
)
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + m['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

# Hand-written templates in the style of the families' published ones.
QWEN25 = (  # a default system message when none is given
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + messages[0]['content'] "
    "+ '<|im_end|>\n' }}{%- else %}{{- '<|im_start|>system\nYou are Qwen, created by Alibaba "
    "Cloud. You are a helpful assistant.<|im_end|>\n' }}{%- endif %}{%- for m in messages %}"
    "{%- if not (m['role'] == 'system' and loop.first) %}{{- '<|im_start|>' + m['role'] + '\n' + "
    "m['content'] + '<|im_end|>\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\n' }}{%- endif %}"
)
LLAMA31 = (  # always a system header with the knowledge cutoff and today's date
    "{{- bos_token }}{%- if messages[0]['role'] == 'system' %}{%- set system_message = "
    "messages[0]['content']|trim %}{%- set messages = messages[1:] %}{%- else %}"
    "{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\n\n' }}"
    "{{- 'Cutting Knowledge Date: December 2023\n' }}"
    "{{- 'Today Date: ' + strftime_now('%d %b %Y') + '\n\n' }}{{- system_message }}"
    "{{- '<|eot_id|>' }}{%- for m in messages %}{{- '<|start_header_id|>' + m['role'] + "
    "'<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{%- endif %}"
)
GEMMA3 = (  # folds the system text into the first user turn
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = "
    "messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}{%- else -%}"
    "{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for m in loop_messages -%}{%- set role = 'model' if m['role'] == 'assistant' else "
    "m['role'] -%}{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "
    "'') }}{{ m['content'] | trim }}{{ '<end_of_turn>\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

# family id -> (model_type, chat template, bos, eos): the hand-written family templates.
FAMILY_TEMPLATES = {
    "qwen": ("qwen2", CHATML, None, "<|im_end|>"),
    "deepseek-r1-distill-qwen": ("qwen2", DEEPSEEK, "<｜begin▁of▁sentence｜>",
                                 "<｜end▁of▁sentence｜>"),
    "phi3": ("phi3", PHI3, "<s>", "<|endoftext|>"),
    "phi4-mini": ("phi3", PHI4_MINI, "<|endoftext|>", "<|endoftext|>"),
    "llama3": ("llama", LLAMA3, "<|begin_of_text|>", "<|eot_id|>"),
    "mistral": ("mistral", MISTRAL, "<s>", "</s>"),
    "gemma": ("gemma2", GEMMA2, "<bos>", "<eos>"),
}
# What the derived PromptTemplate cannot express, per hand-written template:
# (how the template treats a system message, starts every conversation with some text)
FAMILY_LIMITS = {
    "qwen": (SYSTEM_SUPPORTED, False),
    "deepseek-r1-distill-qwen": (SYSTEM_SUPPORTED, True),
    "phi3": (SYSTEM_SUPPORTED, False),
    "phi4-mini": (SYSTEM_SUPPORTED, False),
    "llama3": (SYSTEM_SUPPORTED, True),
    "mistral": (SYSTEM_FOLDED, True),
    "gemma": (SYSTEM_REFUSED, True),
}

_MARKERS = re.compile(r"<[|｜][^<>'\"\s]{1,40}[|｜]>|<[a-z_]{1,20}>|</s>|\[/?[A-Z_]{3,20}\]|"
                      r"<BOS_TOKEN>|<think>")


def tiny_tokenizer_json(template: str, *specials: str | None) -> str:
    """A byte-level tokenizer (one id per byte, no merges) whose special tokens are the
    template's markers and the BOS/EOS tokens: one id each, like a real model's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    markers = set(_MARKERS.findall(template)) | {s for s in specials if s}
    tok.add_special_tokens(sorted(markers))
    return tok.to_str()




def make_template_onnx(folder, family: str = "llama3"):
    """A converted folder as far as the Deploy step's template check reads it (genai_config.json,
    the family's chat template and a tiny tokenizer), without a model: fast screens."""
    import json

    from tests.helpers.folders import make_onnx

    model_type, template, bos, eos = FAMILY_TEMPLATES[family]
    make_onnx(folder, {"model": {"type": model_type, "context_length": 512,
                                 "decoder": {"filename": "model.onnx"}},
                       "search": {"max_length": 512}})
    (folder / "tokenizer.json").write_text(tiny_tokenizer_json(template, bos, eos),
                                           encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": template,
        "bos_token": bos, "eos_token": eos}))
    return folder

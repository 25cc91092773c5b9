"""Chat templates in the style of each preset family and a tiny offline tokenizer for them
(shared by the template tests and the converted-template tests)."""

from __future__ import annotations

import re

from slm_wizard.core.deploy.template_derive import (
    SYSTEM_FOLDED,
    SYSTEM_IGNORED,
    SYSTEM_REFUSED,
    SYSTEM_SUPPORTED,
)
from tests.helpers import DATA as TEST_DATA

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


DATA = TEST_DATA / "chat_templates"  # the published templates (sources in its README)
_L3, _ET, _EOT = "<|begin_of_text|>", "<|endoftext|>", "<|end_of_text|>"
_DSB, _DSE = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
# published template file -> (model_type, bos, eos, family detected, system role, start text)
PUBLISHED = {
    "google-gemma-7b-it": ("gemma", "<bos>", "<eos>", "gemma", SYSTEM_REFUSED, ""),
    "meta-llama-3-instruct": ("llama", "<|begin_of_text|>", "<|eot_id|>", "llama3",
                              SYSTEM_SUPPORTED, "<|begin_of_text|>"),
    "microsoft-phi-3-mini": ("phi3", "<s>", "<|endoftext|>", "phi3", SYSTEM_IGNORED, "<s>"),
    "microsoft-phi-3-small": ("phi3small", "<|endoftext|>", "<|endoftext|>", "phi3",
                              SYSTEM_SUPPORTED, "<|endoftext|>"),
    "microsoft-phi-3-medium": ("phi3", "<s>", "<|endoftext|>", "phi3", SYSTEM_IGNORED, ""),
    "microsoft-phi-3-vision": ("phi3_v", "<s>", "<|endoftext|>", "phi3", SYSTEM_SUPPORTED, ""),
    "microsoft-phi-4": ("phi3", "<|endoftext|>", "<|im_end|>", "phi4", SYSTEM_SUPPORTED, ""),
    "ibm-granite-3.0-8b-instruct": ("granite", "<|end_of_text|>", "<|end_of_text|>", "granite",
                                    SYSTEM_SUPPORTED, ""),
    "mistralai-Mistral-7B-Instruct-v0.2-v1": ("mistral", "<s>", "</s>", "mistral",
                                              SYSTEM_FOLDED, "<s>"),
    "mistralai-Mistral-7B-Instruct-v0.2-old": ("mistral", "<s>", "</s>", "mistral",
                                               SYSTEM_REFUSED, "<s>"),
    "mistralai-Mistral-Large-Instruct-2411-v7": ("mistral", "<s>", "</s>", "mistral",
                                                 SYSTEM_SUPPORTED, "<s>"),
    "teknium-OpenHermes-2.5-Mistral-7B": ("mistral", "<s>", "<|im_end|>", "qwen",
                                          SYSTEM_SUPPORTED, ""),
    "CohereForAI-c4ai-command-r-plus": ("cohere", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>",
                                        "custom", SYSTEM_SUPPORTED, "<BOS_TOKEN>"),
    "deepseek-ai-DeepSeek-V2": ("deepseek_v2", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>",
                                "custom", SYSTEM_SUPPORTED, "<｜begin▁of▁sentence｜>"),
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": (
        "qwen2", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "deepseek-r1-distill-qwen",
        SYSTEM_SUPPORTED, "<｜begin▁of▁sentence｜>"),
    # The templates the Ollama library's GGUF files carry (sources in the README); `start` is
    # what the derived PromptTemplate's start begins with.
    "ollama-llama3.1-8b": ("llama", _L3, "<|eot_id|>", "llama3", SYSTEM_SUPPORTED,
                           _L3 + "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge"),
    "ollama-llama3.2-3b": ("llama", _L3, "<|eot_id|>", "llama3", SYSTEM_SUPPORTED,
                           _L3 + "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge"),
    "ollama-qwen2.5-0.5b": ("qwen2", None, "<|im_end|>", "qwen", SYSTEM_SUPPORTED,
                            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud."),
    "ollama-qwen3-0.6b": ("qwen3", None, "<|im_end|>", "qwen", SYSTEM_SUPPORTED, ""),
    "ollama-phi3.5-3.8b": ("phi3", "<s>", "<|endoftext|>", "phi3", SYSTEM_SUPPORTED, ""),
    "ollama-phi4-mini-3.8b": ("phi3", _ET, _ET, "phi4-mini", SYSTEM_SUPPORTED, ""),
    "ollama-phi4-mini-reasoning-3.8b": ("phi3", _ET, _ET, "phi4-mini", SYSTEM_SUPPORTED,
                                        "<|system|>Your name is Phi"),
    "ollama-gemma2-2b": ("gemma2", "<bos>", "<eos>", "gemma", SYSTEM_REFUSED, "<bos>"),
    "ollama-gemma3-1b": ("gemma3_text", "<bos>", "<eos>", "gemma", SYSTEM_REFUSED, "<bos>"),
    "ollama-granite3.3-2b": ("granite", _EOT, _EOT, "granite", SYSTEM_SUPPORTED,
                             "<|start_of_role|>system<|end_of_role|>"),
    "ollama-granite3.1-moe-1b": ("granitemoe", _EOT, _EOT, "granite", SYSTEM_SUPPORTED,
                                 "<|start_of_role|>system<|end_of_role|>Knowledge Cutoff"),
    "ollama-granite4-350m": ("granite", _EOT, _EOT, "granite", SYSTEM_SUPPORTED,
                             "<|start_of_role|>system<|end_of_role|>You are a helpful"),
    "ollama-smollm2-135m": ("llama", "<|im_start|>", "<|im_end|>", "qwen", SYSTEM_SUPPORTED,
                            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM"),
    "ollama-mistral-7b-instruct-fp16": ("mistral", "<s>", "</s>", "mistral", SYSTEM_REFUSED,
                                        "<s>"),
    "ollama-mistral-small-24b": ("mistral", "<s>", "</s>", "mistral", SYSTEM_SUPPORTED, "<s>"),
    "ollama-deepseek-r1-8b": ("qwen3", _DSB, _DSE, "deepseek-r1-distill-qwen", SYSTEM_SUPPORTED,
                              _DSB),
    "ollama-deepseek-v3-671b": ("deepseek_v3", _DSB, _DSE, "deepseek-r1-distill-qwen",
                                SYSTEM_SUPPORTED, _DSB),
    "ollama-tinyllama-1.1b": ("llama", "<s>", "</s>", "phi3", SYSTEM_SUPPORTED, ""),
}


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

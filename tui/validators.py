"""Input validators shared by the screens (they call core's checks; messages come from core)."""

from __future__ import annotations

from textual.validation import ValidationResult, Validator

from slm_wizard.core.model_info import ModelFolderError, check_model_folder


class ModelFolderValidator(Validator):
    """A Hugging Face model folder: exists, is a folder, holds config.json."""

    def validate(self, value: str) -> ValidationResult:
        try:
            check_model_folder(value)
        except ModelFolderError as exc:
            return self.failure(str(exc))
        return self.success()

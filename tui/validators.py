"""Input validators shared by the screens (they call core's checks; messages come from core)."""

from __future__ import annotations

from textual.validation import ValidationResult, Validator


class ModelFolderValidator(Validator):
    """A Hugging Face model folder: exists, is a folder, holds config.json."""

    def validate(self, value: str) -> ValidationResult:
        # Imported here: the first screen starts without the model reader (bench/b_startup.py).
        from slm_wizard.core.steps.inspect import ModelFolderError, check_model_folder

        try:
            check_model_folder(value)
        except ModelFolderError as exc:
            return self.failure(str(exc))
        return self.success()

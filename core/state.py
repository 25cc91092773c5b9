"""The wizard's state is its run record (core.record); this name stays for the screens."""

from slm_wizard.core.record import RunRecord as WizardState

__all__ = ["WizardState"]

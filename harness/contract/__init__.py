"""The executable contract: strict loading, JSON Schema, semantic lint, frozen dataclasses."""

from harness.contract.errors import ContractError, ContractIssue
from harness.contract.loader import check_file, contract_from_dict, load_contract
from harness.contract.model import LEVEL_LADDER, Contract

__all__ = [
    "ContractError",
    "ContractIssue",
    "Contract",
    "LEVEL_LADDER",
    "check_file",
    "contract_from_dict",
    "load_contract",
]

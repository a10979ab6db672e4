"""What the FOCUS specification says, written down once for the chargeback tests: the
Mandatory columns of the Cost and Usage dataset per version (specification/columns/*.md,
"Feature level", at tags v1.2, v1.3, v1.4; 1.3 deprecates ProviderName and PublisherName,
1.4 removes them). Independent of exporters/unitcost/history/chargeback/focus.py on purpose."""

from __future__ import annotations

MANDATORY_14 = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost",
    "EffectiveCost", "HostProviderName", "InvoiceIssuerName", "ListCost", "PricingQuantity",
    "PricingUnit", "ServiceCategory", "ServiceName", "ServiceProviderName",
}  # fmt: skip
MANDATORY = {
    "1.2": MANDATORY_14 - {"HostProviderName", "ServiceProviderName"}
    | {"ProviderName", "PublisherName"},
    "1.3": MANDATORY_14 | {"ProviderName", "PublisherName"},
    "1.4": MANDATORY_14,
}

# The narrow interface through which the tariff hands money to the account.
#
#   debit(amount, source)   amount >= 1 in the tariff's price units
#                           (10^price_scaler of the currency); source is
#                           SRC_ENERGY (with the register slot) or SRC_STANDING
#
# The prepayment issue replaces RunningCost with the credit/debt account;
# the tariff engine neither knows nor cares which one it feeds.

SRC_ENERGY = const(0)
SRC_STANDING = const(1)


class RunningCost:
    """A credit-mode running cost: what the consumption and the standing
    charge have cost since installation."""

    def __init__(self):
        self.energy = 0
        self.standing = 0

    def debit(self, amount, source):
        if source == SRC_STANDING:
            self.standing += amount
        else:
            self.energy += amount

    def total(self):
        return self.energy + self.standing

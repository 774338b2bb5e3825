# Metering: value formatting (and, later, profiles and logs).

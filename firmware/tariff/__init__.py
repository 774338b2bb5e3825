# Tariff engine: price matrix, switching calendar, registers, activation.

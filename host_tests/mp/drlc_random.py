# Differential: start and duration randomisation over many seeds, and the
# bounds, on both runtimes (ZSE D.2.3.2: 0..60 minutes each).
from firmware.drlc import events as E

LCE = {"IssuerEventID": 1, "DeviceClass": 0x80, "UtilityEnrollmentGroup": 0,
       "StartTime": 1000000, "DurationInMinutes": 30, "CriticalityLevel": 1,
       "CoolingTemperatureOffset": 0xFF, "HeatingTemperatureOffset": 0xFF,
       "CoolingTemperatureSetPoint": -0x8000, "HeatingTemperatureSetPoint": -0x8000,
       "AverageLoadAdjustmentPercentage": -0x80, "DutyCycle": 0xFF, "EventControl": 3}


def main():
    lo_s = lo_d = 10 ** 9
    hi_s = hi_d = -1
    crc = 0
    bad = 0
    for seed in range(1, 401):
        srand = seed % 61
        drand = (seed * 7) % 61
        t = E.EventTable(E.Rng(seed * 2654435761))
        for i in range(5):
            f = dict(LCE)
            f["IssuerEventID"] = i + 1
            f["StartTime"] = 1000000 + i * 7200
            t.add(f, 999000, (0, srand, drand, 0x80), 0, 1)
        for e in t.events:
            if not (0 <= e.start_rand <= srand * 60 and 0 <= e.dur_rand <= drand * 60):
                bad += 1
            lo_s = min(lo_s, e.start_rand)
            hi_s = max(hi_s, e.start_rand)
            lo_d = min(lo_d, e.dur_rand)
            hi_d = max(hi_d, e.dur_rand)
            crc = (crc * 31 + e.start_rand * 3601 + e.dur_rand) & 0xFFFFFFFF
    print("out_of_bounds", bad, "start", lo_s, hi_s, "duration", lo_d, hi_d, "crc", crc)


main()

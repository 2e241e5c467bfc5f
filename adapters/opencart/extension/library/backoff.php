<?php
/**
 * When a queued event is sent again: 1 min, 5 min, 30 min, 2 h, then every 6 h, for 3 days after the event was
 * first queued (abonne's README, "Events from shop-side modules"). Pure: times are Unix seconds passed in.
 */
if (!defined('VERSION')) {
    exit;
}

class AbonneOcBackoff
{
    const FIRST_DELAYS = [60, 300, 1800, 7200];
    const THEN_EVERY = 21600;
    const GIVE_UP_AFTER = 259200;

    /**
     * The wait after the given number of failed deliveries (1 = the first delivery failed).
     *
     * @param int $failedAttempts
     *
     * @return int seconds
     */
    public static function delayAfter($failedAttempts)
    {
        $index = max(1, (int) $failedAttempts) - 1;

        return isset(self::FIRST_DELAYS[$index]) ? self::FIRST_DELAYS[$index] : self::THEN_EVERY;
    }

    /**
     * When to try again, or null when the next try would fall after the 3 days: then the event is given up.
     *
     * @param int $failedAttempts failed deliveries so far, this one included
     * @param int $createdAt when the event was first sent
     * @param int $now
     *
     * @return int|null
     */
    public static function nextAttemptAt($failedAttempts, $createdAt, $now)
    {
        $next = (int) $now + self::delayAfter($failedAttempts);

        return $next <= (int) $createdAt + self::GIVE_UP_AFTER ? $next : null;
    }
}

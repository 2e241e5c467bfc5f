<?php
/**
 * Events abonne has not accepted yet, in PREFIX_abonne_event_queue. Bodies are stored unsigned: every resend signs
 * again with a fresh timestamp. Times in this table are UTC, whatever the shop's or the database's time zone.
 *
 * Two runners (the cron URL, the console command, a later hook) may work at once: a row is claimed by moving its
 * next_attempt_at forward with a compare-and-set UPDATE, and only the runner whose UPDATE changed the row sends it.
 */
if (!defined('_PS_VERSION_')) {
    exit;
}

class AbonneEventQueue
{
    const TABLE = 'abonne_event_queue';
    /** How long a claimed row stays invisible to other runners: longer than any send. */
    const CLAIM_SECONDS = 120;

    public static function createTable()
    {
        return Db::getInstance()->execute(
            'CREATE TABLE IF NOT EXISTS `' . _DB_PREFIX_ . self::TABLE . '` (
                `id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
                `event_id` VARCHAR(64) NOT NULL,
                `event` VARCHAR(32) NOT NULL DEFAULT \'\',
                `body` LONGTEXT NOT NULL,
                `attempts` INT UNSIGNED NOT NULL DEFAULT 0,
                `next_attempt_at` DATETIME NOT NULL,
                `last_error` VARCHAR(255) NOT NULL DEFAULT \'\',
                `created_at` DATETIME NOT NULL,
                PRIMARY KEY (`id`),
                KEY `next_attempt_at` (`next_attempt_at`)
            ) ENGINE=' . _MYSQL_ENGINE_ . ' DEFAULT CHARSET=utf8mb4'
        );
    }

    public static function dropTable()
    {
        return Db::getInstance()->execute('DROP TABLE IF EXISTS `' . _DB_PREFIX_ . self::TABLE . '`');
    }

    /**
     * Keeps an event whose first delivery failed at $now.
     */
    public static function add($eventId, $event, $rawBody, $attempts, $nextAttemptAt, $lastError, $createdAt)
    {
        return Db::getInstance()->insert(self::TABLE, [
            'event_id' => pSQL($eventId),
            'event' => pSQL($event),
            'body' => pSQL($rawBody, true),
            'attempts' => (int) $attempts,
            'next_attempt_at' => self::utc($nextAttemptAt),
            'last_error' => pSQL(self::shorten($lastError)),
            'created_at' => self::utc($createdAt),
        ]);
    }

    /**
     * Claims up to $limit due rows for this runner.
     *
     * @return array rows (id, event_id, event, body, attempts, created_at as Unix seconds)
     */
    public static function claimDue($limit, $now)
    {
        $db = Db::getInstance();
        $table = '`' . _DB_PREFIX_ . self::TABLE . '`';
        $candidates = $db->executeS(
            'SELECT `id`, `next_attempt_at` FROM ' . $table . ' WHERE `next_attempt_at` <= \'' . self::utc($now) . '\''
            . ' ORDER BY `next_attempt_at` ASC, `id` ASC LIMIT ' . max(1, (int) $limit)
        );
        $claimed = [];
        foreach ((array) $candidates as $candidate) {
            $db->execute(
                'UPDATE ' . $table . ' SET `next_attempt_at` = \'' . self::utc($now + self::CLAIM_SECONDS) . '\''
                . ' WHERE `id` = ' . (int) $candidate['id']
                . ' AND `next_attempt_at` = \'' . pSQL($candidate['next_attempt_at']) . '\''
            );
            if ((int) $db->Affected_Rows() !== 1) {
                continue; // another runner claimed it between the SELECT and this UPDATE
            }
            $row = $db->getRow('SELECT * FROM ' . $table . ' WHERE `id` = ' . (int) $candidate['id']);
            if ($row) {
                $row['created_at'] = strtotime($row['created_at'] . ' UTC');
                $claimed[] = $row;
            }
        }

        return $claimed;
    }

    public static function reschedule($id, $attempts, $nextAttemptAt, $lastError)
    {
        return Db::getInstance()->update(self::TABLE, [
            'attempts' => (int) $attempts,
            'next_attempt_at' => self::utc($nextAttemptAt),
            'last_error' => pSQL(self::shorten($lastError)),
        ], '`id` = ' . (int) $id);
    }

    public static function delete($id)
    {
        return Db::getInstance()->delete(self::TABLE, '`id` = ' . (int) $id);
    }

    /**
     * @return array ['queued' => int, 'due' => int]
     */
    public static function counts($now)
    {
        $table = '`' . _DB_PREFIX_ . self::TABLE . '`';
        $db = Db::getInstance();

        return [
            'queued' => (int) $db->getValue('SELECT COUNT(*) FROM ' . $table),
            'due' => (int) $db->getValue('SELECT COUNT(*) FROM ' . $table . ' WHERE `next_attempt_at` <= \'' . self::utc($now) . '\''),
        ];
    }

    private static function utc($timestamp)
    {
        return gmdate('Y-m-d H:i:s', (int) $timestamp);
    }

    private static function shorten($text)
    {
        $text = (string) $text;

        return function_exists('mb_substr') ? mb_substr($text, 0, 250) : substr($text, 0, 250);
    }
}

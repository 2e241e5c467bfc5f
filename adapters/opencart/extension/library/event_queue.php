<?php
/**
 * Events abonne has not accepted yet, in DB_PREFIX abonne_event_queue. Bodies are stored unsigned: every resend signs
 * again with a fresh timestamp. Times in this table are UTC, whatever the shop's or the database's time zone.
 *
 * Two runners (the cron route, a later event) may work at once: a row is claimed by moving its next_attempt_at
 * forward with a compare-and-set UPDATE, and only the runner whose UPDATE changed the row sends it.
 * Works with the database object of OpenCart 3.0 and 4.x (query, escape, countAffected).
 */
if (!defined('VERSION')) {
    exit;
}

class AbonneOcEventQueue
{
    const TABLE = 'abonne_event_queue';
    /** How long a claimed row stays invisible to other runners: longer than any send. */
    const CLAIM_SECONDS = 120;

    private $db;
    private $table;

    /**
     * @param object $db OpenCart's $this->db
     * @param string $prefix DB_PREFIX
     */
    public function __construct($db, $prefix)
    {
        $this->db = $db;
        $this->table = '`' . $prefix . self::TABLE . '`';
    }

    public function createTable()
    {
        $this->db->query(
            'CREATE TABLE IF NOT EXISTS ' . $this->table . ' (
                `id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
                `event_id` VARCHAR(64) NOT NULL,
                `event` VARCHAR(32) NOT NULL DEFAULT \'\',
                `order_id` INT UNSIGNED NOT NULL DEFAULT 0,
                `body` LONGTEXT NOT NULL,
                `attempts` INT UNSIGNED NOT NULL DEFAULT 0,
                `next_attempt_at` DATETIME NOT NULL,
                `last_error` VARCHAR(255) NOT NULL DEFAULT \'\',
                `created_at` DATETIME NOT NULL,
                PRIMARY KEY (`id`),
                KEY `next_attempt_at` (`next_attempt_at`)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4'
        );
    }

    public function dropTable()
    {
        $this->db->query('DROP TABLE IF EXISTS ' . $this->table);
    }

    /**
     * Keeps an event whose delivery failed.
     */
    public function add($eventId, $event, $orderId, $rawBody, $attempts, $nextAttemptAt, $lastError, $createdAt)
    {
        $this->db->query('INSERT INTO ' . $this->table . ' SET'
            . ' `event_id` = \'' . $this->db->escape((string) $eventId) . '\','
            . ' `event` = \'' . $this->db->escape((string) $event) . '\','
            . ' `order_id` = ' . (int) $orderId . ','
            . ' `body` = \'' . $this->db->escape((string) $rawBody) . '\','
            . ' `attempts` = ' . (int) $attempts . ','
            . ' `next_attempt_at` = \'' . self::utc($nextAttemptAt) . '\','
            . ' `last_error` = \'' . $this->db->escape(self::shorten($lastError)) . '\','
            . ' `created_at` = \'' . self::utc($createdAt) . '\'');
    }

    /**
     * Claims up to $limit due rows for this runner.
     *
     * @return array rows (id, event_id, event, body, attempts, last_error, created_at as Unix seconds)
     */
    public function claimDue($limit, $now)
    {
        $candidates = $this->db->query(
            'SELECT `id`, `next_attempt_at` FROM ' . $this->table . ' WHERE `next_attempt_at` <= \'' . self::utc($now) . '\''
            . ' ORDER BY `next_attempt_at` ASC, `id` ASC LIMIT ' . max(1, (int) $limit)
        )->rows;
        $claimed = [];
        foreach ($candidates as $candidate) {
            $this->db->query(
                'UPDATE ' . $this->table . ' SET `next_attempt_at` = \'' . self::utc($now + self::CLAIM_SECONDS) . '\''
                . ' WHERE `id` = ' . (int) $candidate['id']
                . ' AND `next_attempt_at` = \'' . $this->db->escape($candidate['next_attempt_at']) . '\''
            );
            if ((int) $this->db->countAffected() !== 1) {
                continue; // another runner claimed it between the SELECT and this UPDATE
            }
            $row = $this->db->query('SELECT * FROM ' . $this->table . ' WHERE `id` = ' . (int) $candidate['id'])->row;
            if ($row) {
                $row['created_at'] = strtotime($row['created_at'] . ' UTC');
                $claimed[] = $row;
            }
        }

        return $claimed;
    }

    public function reschedule($id, $attempts, $nextAttemptAt, $lastError)
    {
        $this->db->query('UPDATE ' . $this->table . ' SET `attempts` = ' . (int) $attempts . ','
            . ' `next_attempt_at` = \'' . self::utc($nextAttemptAt) . '\','
            . ' `last_error` = \'' . $this->db->escape(self::shorten($lastError)) . '\''
            . ' WHERE `id` = ' . (int) $id);
    }

    public function delete($id)
    {
        $this->db->query('DELETE FROM ' . $this->table . ' WHERE `id` = ' . (int) $id);
    }

    /**
     * @return array ['queued' => int, 'due' => int, 'last_error' => string]
     */
    public function counts($now)
    {
        $queued = $this->db->query('SELECT COUNT(*) AS `total` FROM ' . $this->table)->row;
        $due = $this->db->query('SELECT COUNT(*) AS `total` FROM ' . $this->table
            . ' WHERE `next_attempt_at` <= \'' . self::utc($now) . '\'')->row;
        $last = $this->db->query('SELECT `last_error` FROM ' . $this->table . ' ORDER BY `id` DESC LIMIT 1')->row;

        return [
            'queued' => (int) ($queued['total'] ?? 0),
            'due' => (int) ($due['total'] ?? 0),
            'last_error' => (string) ($last['last_error'] ?? ''),
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

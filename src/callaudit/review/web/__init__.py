"""The workbench's pages, one Flask blueprint per area: accounts (log in and out), calls
(the list, a call's page, its audio, verdicts, missed findings, notes, appeals made),
queue (抽检), appeals (申诉 decided), calibration, reports (rule precision). What every page
shares (the database connection, who is asking, what they may do, a call they may see) is
in site.py; the security set-up (sessions, CSRF, limits, headers) in review/server.py."""

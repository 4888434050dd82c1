#!/usr/bin/perl
# A test SMSC written with Net::SMPP (Debian's libnet-smpp-perl), so the gateway's SMPP client is
# checked against an implementation we did not write. One process, any number of binds.
#
#   perl smsc.pl PORT SYSTEM_ID PASSWORD [--id-format hex|decimal] [--receipt-ids decimal]
#                [--auto-receipt] [--undeliverable-suffix DIGITS] [--receipt-tlvs] [--throttle-every N] [--receipt-first] [--hold]
#
# stdout: one JSON object per line, what it saw ({"event":"listening"|"bind"|"submit"|"unbind"|...}).
# stdin, one command per line:
#   receipt ID STAT         a delivery receipt (deliver_sm, esm_class 0x04) for ID on the first bound session
#   mo FROM TO DCS HEX      a mobile-originated deliver_sm
#   mo-udh FROM TO DCS REF TOTAL SEQ HEX   one part of a long mobile-originated message
#   drop                    closes every connection at once, without unbind (a network failure)
#   stop-throttling         from now on --throttle-every no longer applies
#   held                    how many submits --hold keeps unanswered, per connection
#   release                 answers every held submit and stops holding
use strict;
use warnings;
use Net::SMPP;
use IO::Select;
use JSON::PP;
use Encode qw(decode);

$| = 1;
my ($port, $want_id, $want_password, @options) = @ARGV;
my %opt = (id_format => 'decimal', receipt_ids => 'same', auto_receipt => 0, undeliverable_suffix => '', receipt_tlvs => 0, throttle_every => 0, receipt_first => 0, hold => 0);
while (@options) {
    my $o = shift @options;
    if ($o eq '--id-format') { $opt{id_format} = shift @options }
    elsif ($o eq '--receipt-ids') { $opt{receipt_ids} = shift @options }
    elsif ($o eq '--auto-receipt') { $opt{auto_receipt} = 1 }
    elsif ($o eq '--undeliverable-suffix') { $opt{undeliverable_suffix} = shift @options }
    elsif ($o eq '--receipt-tlvs') { $opt{receipt_tlvs} = 1 }
    elsif ($o eq '--receipt-first') { $opt{receipt_first} = 1 }
    elsif ($o eq '--hold') { $opt{hold} = 1 }
    elsif ($o eq '--throttle-every') { $opt{throttle_every} = shift @options }
    else { die "unknown option $o" }
}
my $json = JSON::PP->new->canonical->utf8;
sub say_json { print $json->encode($_[0]), "\n" }

my $listener = Net::SMPP->new_listen('127.0.0.1', port => $port, smpp_version => 0x34) or die "cannot listen on $port: $!";
my $select = IO::Select->new($listener, \*STDIN);
my %sessions;   # fileno -> { smpp => Net::SMPP, bound => 0|1, receiver => 0|1 }
my $next_id = 100000;
my $submits = 0;
my $stdin_buffer = '';
my @held;       # [fh, seq, id, pdu] of submits not answered yet (--hold)
say_json({ event => 'listening', port => $port });

sub session_for_receipts {
    for my $s (values %sessions) { return $s->{smpp} if $s->{bound} && $s->{receiver} }
    return undef;
}

sub close_session {
    my ($fh) = @_;
    $select->remove($fh);
    delete $sessions{fileno($fh)};
    close($fh);
}

sub decode_text {
    my ($dcs, $bytes) = @_;
    return decode('UTF-16BE', $bytes) if ($dcs & 0x0f) == 0x08 || $dcs == 0x18;
    return unpack('H*', $bytes) if $dcs == 0x04;
    return decode('gsm0338', $bytes);
}

sub send_receipt {
    my ($id, $stat) = @_;
    my $smpp = session_for_receipts() or do { say_json({ event => 'error', error => 'no receiver bound for a receipt' }); return };
    my $shown = $opt{receipt_ids} eq 'decimal' && $id =~ /^[0-9a-f]+$/i ? hex($id) : $id;
    my $text = "id:$shown sub:001 dlvrd:" . ($stat eq 'DELIVRD' ? '001' : '000') . " submit date:2611260400 done date:2611260401 stat:$stat err:" . ($stat eq 'DELIVRD' ? '000' : '001') . " text:";
    my %state = (DELIVRD => 2, EXPIRED => 3, DELETED => 4, UNDELIV => 5, ACCEPTD => 6, UNKNOWN => 7, REJECTD => 8);
    my @tlvs = $opt{receipt_tlvs} ? (receipted_message_id => "$id\0", message_state => pack('C', $state{$stat} // 7)) : ();
    $smpp->deliver_sm(source_addr_ton => 1, source_addr_npi => 1, source_addr => '14155552671', dest_addr_ton => 1, dest_addr_npi => 1,
        destination_addr => '15550001111', esm_class => 0x04, data_coding => 0, short_message => $text, @tlvs, async => 1);
    say_json({ event => 'receipt_sent', id => "$shown", stat => $stat });
}

sub auto_receipt {
    my ($id, $pdu) = @_;
    return unless $opt{auto_receipt} && $pdu->{registered_delivery} & 1;
    my $suffix = $opt{undeliverable_suffix};
    send_receipt($id, $suffix ne '' && $pdu->{destination_addr} =~ /\Q$suffix\E$/ ? 'UNDELIV' : 'DELIVRD');
}

sub answer_submit {
    my ($fh, $seq, $id, $pdu) = @_;
    $fh->submit_sm_resp(seq => $seq, message_id => $id);
    auto_receipt($id, $pdu);
}

sub command {
    my ($line) = @_;
    my @w = split ' ', $line;
    return unless @w;
    if ($w[0] eq 'receipt') { send_receipt($w[1], $w[2]) }
    elsif ($w[0] eq 'mo' || $w[0] eq 'mo-udh') {
        my $smpp = session_for_receipts() or return say_json({ event => 'error', error => 'no receiver bound for an MO' });
        my ($from, $to, $dcs) = @w[1 .. 3];
        my ($esm, $sm) = (0, '');
        if ($w[0] eq 'mo-udh') { $esm = 0x40; $sm = pack('C6', 5, 0, 3, $w[4], $w[5], $w[6]) . pack('H*', $w[7]) }
        else { $sm = pack('H*', $w[4]) }
        my $seq = $smpp->deliver_sm(source_addr_ton => 1, source_addr_npi => 1, source_addr => $from, dest_addr_ton => 1, dest_addr_npi => 1,
            destination_addr => $to, esm_class => $esm, data_coding => $dcs, short_message => $sm, async => 1);
        say_json({ event => 'mo_sent', seq => $seq });
    }
    elsif ($w[0] eq 'held') {
        my %per;
        $per{fileno($_->[0])}++ for @held;
        say_json({ event => 'held', count => scalar(@held), per_connection => [sort { $a <=> $b } values %per] });
    }
    elsif ($w[0] eq 'release') {
        $opt{hold} = 0;
        for my $h (splice @held) { answer_submit(@$h) }
        say_json({ event => 'released' });
    }
    elsif ($w[0] eq 'stop-throttling') { $opt{throttle_every} = 0; say_json({ event => 'throttling_stopped' }) }
    elsif ($w[0] eq 'drop') {
        close_session($_->{smpp}) for values %sessions;
        say_json({ event => 'dropped' });
    }
}

my %bind_names = (1 => 'bind_receiver', 2 => 'bind_transmitter', 9 => 'bind_transceiver');
while (1) {
    for my $fh ($select->can_read()) {
        if ($fh == $listener) {
            my $c = $listener->accept or next;
            $sessions{fileno($c)} = { smpp => $c, bound => 0, receiver => 0 };
            $select->add($c);
            next;
        }
        if ($fh == \*STDIN) {
            my $n = sysread(STDIN, $stdin_buffer, 4096, length $stdin_buffer);
            exit 0 if !$n;
            while ($stdin_buffer =~ s/^([^\n]*)\n//) { command($1) }
            next;
        }
        my $session = $sessions{fileno($fh)} or next;
        my $pdu = $fh->read_pdu();
        if (!$pdu) { close_session($fh); say_json({ event => 'closed' }); next }
        my $cmd = $pdu->{cmd};
        if ($bind_names{$cmd}) {
            my $ok = $pdu->{system_id} eq $want_id && $pdu->{password} eq $want_password;
            say_json({ event => 'bind', command => $bind_names{$cmd}, system_id => $pdu->{system_id}, password => $pdu->{password},
                system_type => $pdu->{system_type}, interface_version => $pdu->{interface_version}, accepted => $ok ? JSON::PP::true : JSON::PP::false });
            my $resp = $cmd == 1 ? 'bind_receiver_resp' : $cmd == 2 ? 'bind_transmitter_resp' : 'bind_transceiver_resp';
            $fh->$resp(seq => $pdu->{seq}, system_id => 'PERLSMSC', status => $ok ? 0 : 0x0E);
            if ($ok) { $session->{bound} = 1; $session->{receiver} = $cmd != 2 }
        } elsif ($cmd == 4) {
            $submits++;
            if ($opt{throttle_every} && $submits % $opt{throttle_every} == 0) {
                $fh->submit_sm_resp(seq => $pdu->{seq}, message_id => '', status => 0x58);
                say_json({ event => 'throttled' });
                next;
            }
            my $n = $next_id++;
            my $id = $opt{id_format} eq 'hex' ? sprintf('%x', $n) : "$n";
            my ($esm, $dcs, $sm) = ($pdu->{esm_class}, $pdu->{data_coding}, $pdu->{short_message});
            my ($udh, $concat) = ('', undef);
            if ($esm & 0x40) {
                my $udhl = unpack('C', $sm);
                $udh = substr($sm, 0, $udhl + 1);
                $sm = substr($sm, $udhl + 1);
                my ($iei, $len, $ref, $total, $seq) = unpack('C5', substr($udh, 1));
                $concat = { ref => $ref, total => $total, seq => $seq } if $iei == 0 && $len == 3;
            }
            # --receipt-first: the receipt goes out before the response that tells the ESME the id.
            send_receipt($id, 'DELIVRD') if $opt{receipt_first};
            if ($opt{hold}) { push @held, [$fh, $pdu->{seq}, $id, $pdu] }
            else { $fh->submit_sm_resp(seq => $pdu->{seq}, message_id => $id) }
            say_json({ event => 'submit', connection => fileno($fh), id => $id, source_addr => $pdu->{source_addr}, source_ton => $pdu->{source_addr_ton}, source_npi => $pdu->{source_addr_npi},
                destination_addr => $pdu->{destination_addr}, dest_ton => $pdu->{dest_addr_ton}, dest_npi => $pdu->{dest_addr_npi},
                data_coding => $dcs, esm_class => $esm, registered_delivery => $pdu->{registered_delivery},
                text => decode_text($dcs, $sm), udh => unpack('H*', $udh), concat => $concat });
            auto_receipt($id, $pdu) unless $opt{hold};
        } elsif ($cmd == 0x15) {
            $fh->enquire_link_resp(seq => $pdu->{seq});
        } elsif ($cmd == 6) {
            $fh->unbind_resp(seq => $pdu->{seq});
            say_json({ event => 'unbind' });
            close_session($fh);
        } elsif ($cmd == 0x80000005) {
            say_json({ event => 'deliver_sm_resp', status => $pdu->{status}, seq => $pdu->{seq} });
        } elsif (!($cmd & 0x80000000)) {
            $fh->generic_nack(seq => $pdu->{seq}, status => 3);
        }
    }
}

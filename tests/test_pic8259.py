"""The PIC pair alone: initialization, masks, priority, cascade, EOI, level-sensitive lines."""

from pmtimer_harness.devices.pic8259 import PicPair


def programmed(master_mask=0xFB, slave_mask=0xFD):
    pic = PicPair()
    for port, value in [(0x20, 0x11), (0xA0, 0x11), (0x21, 0x20), (0xA1, 0x28), (0x21, 0x04),
                        (0xA1, 0x02), (0x21, 0x01), (0xA1, 0x01), (0x21, master_mask), (0xA1, slave_mask)]:
        pic.write(port, 1, value, 0)
    return pic


def test_everything_is_masked_until_programmed():
    pic = PicPair()
    pic.set_irq(9, True)
    assert pic.pending_vector() is None


def test_irq_9_arrives_through_the_cascade_at_the_slave_base_plus_one():
    pic = programmed()
    pic.set_irq(9, True)
    assert pic.pending_vector() == 0x29
    assert pic.acknowledge() == 0x29
    assert pic.read(0x20, 1, 0) & 0x04 == 0  # master IRR bit 2 consumed


def test_a_masked_line_is_not_delivered():
    pic = programmed(slave_mask=0xFF)
    pic.set_irq(9, True)
    assert pic.pending_vector() is None


def test_in_service_blocks_until_eoi_and_a_held_line_asks_again():
    pic = programmed()
    pic.set_irq(9, True)
    pic.acknowledge()
    assert pic.pending_vector() is None  # in service
    pic.write(0xA0, 1, 0x20, 0)  # EOI to the slave
    pic.write(0x20, 1, 0x20, 0)  # and the master
    assert pic.pending_vector() == 0x29  # level-sensitive: still asserted


def test_a_dropped_line_is_not_delivered_after_eoi():
    pic = programmed()
    pic.set_irq(9, True)
    pic.acknowledge()
    pic.set_irq(9, False)
    pic.write(0xA0, 1, 0x20, 0)
    pic.write(0x20, 1, 0x20, 0)
    assert pic.pending_vector() is None


def test_lower_irq_numbers_win():
    pic = programmed(master_mask=0x00, slave_mask=0x00)
    pic.set_irq(9, True)
    pic.set_irq(1, True)
    assert pic.pending_vector() == 0x21


def test_ocw3_selects_isr_for_reading():
    pic = programmed()
    pic.set_irq(9, True)
    pic.acknowledge()
    pic.write(0xA0, 1, 0x0B, 0)  # OCW3: read ISR
    assert pic.read(0xA0, 1, 0) == 0x02
    assert pic.read(0xA1, 1, 0) == 0xFD  # the data port reads the mask
